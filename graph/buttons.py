"""Answers a prospect can tap: the buttons a question offers on WhatsApp, and reading a tapped button back.

Twilio's Content API sends a ``choice`` question with up to :data:`QUICK_REPLY_MAX` answers as quick-reply
buttons (``twilio/quick-reply``), with up to :data:`LIST_PICKER_MAX` as a list picker (``twilio/list-picker``),
and a ``yes_no`` question as two buttons. Each button's id is its :func:`payload`; WhatsApp hands the id of
the tapped one back on the inbound webhook (``ButtonPayload``, or ``ListId`` for a list item), and
:func:`read_tap` turns it into the exact answer, no parsing involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from graph.playbook import Playbook, Question
from graph.playbook.answers import answer_keys, label

QUICK_REPLY_MAX = 3
"""Most answers sent as quick-reply buttons; WhatsApp shows up to 3 buttons in a session message."""
LIST_PICKER_MAX = 10
"""Most items of a WhatsApp list picker (Twilio Content API, ``twilio/list-picker``: 10)."""

Layout = Literal["quick_reply", "list_picker"]


@dataclass(frozen=True)
class Button:
    """One tappable answer: ``id`` comes back as the inbound ``ButtonPayload``/``ListId``; ``title`` is shown."""

    id: str
    title: str


def payload(question: Question, key: str) -> str:
    """The id of answer ``key``'s button: ``<question id>:<answer key>``, e.g. ``service_type:repair``."""
    return f"{question.id}:{key}"


def layout(question: Question) -> Layout | None:
    """How a question's answers are offered on WhatsApp, or None when it has no fixed answers to tap
    (number, money, ZIP code, text) or more than :data:`LIST_PICKER_MAX`."""
    count = len(answer_keys(question))
    if count == 0 or count > LIST_PICKER_MAX:
        return None
    return "quick_reply" if count <= QUICK_REPLY_MAX else "list_picker"


def buttons(playbook: Playbook, question: Question, language: str | None = None) -> list[Button]:
    """The question's buttons in ``language`` (titles from the playbook's labels), in the question's order;
    [] when :func:`layout` is None."""
    if layout(question) is None:
        return []
    return [Button(id=payload(question, key), title=label(playbook, question, key, language))
            for key, _ in answer_keys(question)]


def read_tap(playbook: Playbook, tapped: str | None) -> tuple[str, Any] | None:
    """``(question id, stored value)`` for a tapped button's id, or None when it is not one of ours
    (an old template, a typed reply): the message is then read as text."""
    qid, _, key = (tapped or "").partition(":")
    try:
        question = playbook.question(qid)
    except KeyError:
        return None
    return next(((question.id, value) for k, value in answer_keys(question) if k == key), None)
