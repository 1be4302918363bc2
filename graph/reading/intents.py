"""What a message asks the business to do, read from its words without a model: stop texting, it reached the
wrong person, or a person should take over.

An opt-out in words is a compliance matter before it is a conversation: the FCC's 2024 order on revoking consent
(47 CFR 64.1200(a)(10)) lets a consumer revoke consent "by any reasonable means", so "please stop texting me" must
stop the texts even when no model reads it. A phrase counts unless it is negated in its clause ("I didn't say
stop texting"); a hedge does not weaken it ("stop texting me or I'll report you" is an opt-out).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal

from graph.reading.mentions import find
from graph.reading.text import words

Intent = Literal["opt_out", "wrong_number", "wants_human"]

PHRASES: dict[str, list[str]] = {
    "opt_out": [
        "stop texting", "stop messaging", "stop sending", "stop contacting", "stop calling", "stop the texts",
        "stop these texts", "stop the messages", "quit texting", "remove me", "take me off", "unsubscribe me",
        "opt me out", "opt out", "leave me alone", "don't text", "dont text", "do not text", "don't message",
        "dont message", "do not message", "dont contact",
        "don't contact", "do not contact", "no more texts", "no more messages", "lose my number",
        "delete my number", "never text", "deja de escribirme", "dejen de escribirme", "deja de mandarme",
        "dejen de mandarme", "deja de enviarme", "dejen de enviarme", "no me escribas", "no me escriban",
        "no me manden", "no me envies", "no me envien", "no me contacten", "dejame en paz", "dejenme en paz",
        "borrame", "borrenme", "quitame de la lista", "sacame de la lista", "no quiero mas mensajes",
        "ya no me escriban", "ya no me escribas",
    ],
    "wrong_number": [
        "wrong number", "wrong person", "wrong guy", "wrong girl", "you have the wrong", "not who you think",
        "numero equivocado", "numero incorrecto", "persona equivocada", "se equivocaron de numero",
        "se equivoco de numero", "te equivocaste de numero",
    ],
    "wants_human": [
        "real person", "a human", "live person", "actual person", "talk to someone", "speak to someone",
        "speak with someone", "talk with someone", "talk to a person", "speak to a person", "speak with a person",
        "talk to a rep", "speak to a rep", "talk to an agent", "speak to an agent", "representative",
        "persona real", "un humano", "hablar con alguien", "hablar con una persona", "hablar con un agente",
    ],
}
"""Each intent's phrasings, English and Spanish (folded: no accents). Matched word by word, typos forgiven as for
answers (``graph.reading.mentions``)."""

ORDER: tuple[Intent, ...] = ("opt_out", "wrong_number", "wants_human")
"""When a message says several, the first in this order wins: a STOP in words outranks everything."""


def said_intent(text: str) -> Intent | None:
    """The intent the message states in so many words, or None. ``"please stop texting me"`` → ``opt_out``;
    ``"wrong number"`` → ``wrong_number``; ``"can I talk to a real person?"`` → ``wants_human``;
    ``"I never said stop texting"`` → None."""
    said = {m.key for m in find(words(text or ""), PHRASES) if not m.negated}
    return next((intent for intent in ORDER if intent in said), None)
