"""Everything one message states: the answers to every question it reads with confidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.playbook import Playbook, Question
from graph.reading.slots import NOTHING, SlotReading, read_choice, read_open, read_postal_code, read_yes_no
from graph.reading.text import words as folded_words


@dataclass(frozen=True)
class Reading:
    """What a message states, question by question.

    Attributes:
        answers: question id → the value read (a choice's value, True/False, a 5-digit ZIP str, a float for
            number and money, the text), one per question read with confidence.
        ambiguous: ids of the questions the message answers two ways (neither is taken).
    """

    answers: dict[str, Any] = field(default_factory=dict)
    ambiguous: frozenset[str] = frozenset()


def read_message(playbook: Playbook, text: str, *, pending: str | None = None) -> Reading:
    """Read every question's answer that ``text`` states. ``pending`` is the id of the question just asked,
    whose bare answers ("2", "yes", "$5k") are read too. Never raises."""
    words = folded_words(text)
    answers: dict[str, Any] = {}
    ambiguous: set[str] = set()
    for question in playbook.questions:
        slot = read_slot(playbook, question, text, words, pending=question.id == pending)
        if slot.read:
            answers[question.id] = slot.value
        elif slot.ambiguous:
            ambiguous.add(question.id)
    return Reading(answers=answers, ambiguous=frozenset(ambiguous))


def read_slot(playbook: Playbook, question: Question, text: str, words: Any, *, pending: bool) -> SlotReading:
    """What ``text`` says to ``question`` (by its type's reader in :mod:`graph.reading.slots`)."""
    if question.type == "choice":
        return read_choice(playbook, question, text, words, pending=pending)
    if question.type == "yes_no":
        return read_yes_no(playbook, question, words, pending=pending)
    if question.type == "postal_code":
        return read_postal_code(question, text)
    if question.type in ("number", "money", "text"):
        return read_open(question, text, pending=pending)
    return NOTHING
