"""Deterministic answer parsing, one function per question type.

These parsers are the floor the bot stands on with no language model: exact,
offline and free. Each returns a :class:`Parsed`; an answer that can't be read
(or reads two ways) comes back with ``ok=False`` and a hint for the re-ask.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from text_to_num import alpha2digit

from graph.playbook import Question

YES_WORDS = (
    "yes", "y", "yeah", "yea", "yep", "yup", "ya", "sure", "correct", "right", "i am", "i do", "affirmative",
    "absolutely", "of course", "definitely", "indeed", "si", "sí", "ok", "okay", "true", "that's me", "it is", "we are",
    "i own it", "we own it", "i'm the owner", "im the owner",
)
NO_WORDS = (
    "no", "n", "nope", "nah", "not", "negative", "i'm not", "im not", "i am not", "i rent", "renting", "renter",
    "tenant", "don't", "dont", "false", "landlord",
)
DEFAULT_HINTS = {
    "choice": "Sorry, I didn't catch that. Please reply with one of the numbers.",
    "yes_no": "Sorry, I didn't catch that. Please reply yes or no.",
    "number": "Sorry, I didn't catch that. Please reply with a number.",
    "money": "Sorry, I didn't catch that. Please reply with an amount, like $5,000.",
    "postal_code": "Sorry, I didn't catch that. Please reply with a 5-digit ZIP code.",
    "text": "Sorry, I didn't get anything there. Could you type a short answer?",
}
_SCALES = {"k": 1e3, "thousand": 1e3, "grand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.])\$?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(k|thousand|grand|mm|m|million|b|billion)?(?![\w])",
    re.IGNORECASE,
)
NUMBER_LANGUAGES = ("en", "es")
"""Languages whose numbers in words are read (``text2num``'s codes)."""
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")


@dataclass(frozen=True)
class Parsed:
    """Result of parsing one answer.

    Attributes:
        ok: True when the text gives exactly one valid answer.
        value: the answer: a choice's ``value`` (str), True/False for yes_no, a float for
            number and money (USD for money), a 5-digit str for postal_code, the trimmed text.
        hint: for ``ok=False``, the sentence to prefix the re-ask with.
    """

    ok: bool
    value: str | float | bool | None = None
    hint: str | None = None


def parse_answer(question: Question, text: str) -> Parsed:
    """Parse ``text`` as an answer to ``question`` by its type; never raises."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    parser = _PARSERS[question.type]
    value = parser(question, text)
    if value is None:
        return Parsed(ok=False, hint=question.hint or DEFAULT_HINTS[question.type])
    return Parsed(ok=True, value=value)


def mentions(text: str, phrase: str) -> bool:
    """True when ``phrase`` occurs in ``text`` as whole words, case-insensitively."""
    phrase = phrase.strip()
    if not phrase:
        return False
    pattern = r"(?<![\w])" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?![\w])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def parse_choice(question: Question, text: str) -> str | None:
    """The one choice the text names by position (``2``), value or synonym; None if none or several."""
    matched = set()
    for position, choice in enumerate(question.choices, start=1):
        words = [str(position), choice.value, *choice.synonyms]
        if any(mentions(text, w) for w in words):
            matched.add(choice.value)
    return matched.pop() if len(matched) == 1 else None


def parse_yes_no(question: Question, text: str) -> bool | None:
    """True/False from the usual yes/no words; None when neither or both (the prospect is asked again).

    Negations win over the yes words they contain ("I am not" is no, not "I am").
    """
    no = any(mentions(text, w) for w in NO_WORDS)
    rest = text
    for word in sorted(NO_WORDS, key=len, reverse=True):
        rest = re.sub(r"(?<![\w])" + re.escape(word) + r"(?![\w])", " ", rest, flags=re.IGNORECASE)
    yes = any(mentions(rest, w) for w in YES_WORDS)
    return yes if yes != no else None


def parse_number(question: Question | None, text: str) -> float | None:
    """A single amount: ``5000``, ``5,000``, ``$5k``, ``1.5m``, ``five thousand``, ``quince mil``; None if none
    or several. Numbers in words are read by ``text2num`` in English, then Spanish."""
    for candidate in (text, *(alpha2digit(text, lang, threshold=0) for lang in NUMBER_LANGUAGES)):
        found = {_scaled(m.group(1), m.group(2)) for m in _NUMBER.finditer(candidate)}
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def parse_postal_code(question: Question, text: str) -> str | None:
    """The one US ZIP code (5 digits, optional +4) in the text; None if none or several."""
    codes = {m.group(1) for m in _ZIP.finditer(text)}
    return codes.pop() if len(codes) == 1 else None


def parse_text(question: Question, text: str) -> str | None:
    """Any non-empty text, trimmed."""
    return text or None


def in_service_area(question: Question, postal_code: str) -> bool:
    """Whether a ZIP code falls under one of the question's ``service_area`` prefixes (all, if none)."""
    return not question.service_area or any(postal_code.startswith(p) for p in question.service_area)


def _scaled(number: str, scale: str | None) -> float:
    value = float(number.replace(",", ""))
    return value * _SCALES[scale.lower()] if scale else value


_PARSERS = {
    "choice": parse_choice,
    "yes_no": parse_yes_no,
    "number": parse_number,
    "money": parse_number,
    "postal_code": parse_postal_code,
    "text": parse_text,
}
