"""What one message changes in a conversation's answers, and the clause that says so back to the prospect.

The deterministic reading (:mod:`graph.reading`) comes first; a tapped button is the exact answer to its
question; a model's proposals fill only questions the reading left unread and the conversation has not
answered. An answer read from free text rather than given to the question just asked is *understood*: the
bot's next message names it (``replies.understood``) so the prospect can correct it. A correction, a different
reading of an answered question, replaces the answer when that answer was itself understood from free text,
on the turn right after the bot confirmed it, or when the message says it corrects ("no, it's a repair",
"actually, …").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.buttons import read_tap
from graph.playbook import Playbook
from graph.playbook.answers import confirmation, key_of
from graph.reading.mentions import ANSWERING_NO, find
from graph.reading.message import read_message
from graph.reading.text import words
from graph.texts import display, render
from graph.understanding import merge_proposal

CORRECTION_MARKERS = ("no", "nope", "actually", "sorry", "i meant", "meant", "wrong", "correction", "oops", "typo",
                      "en realidad", "perdon", "quise decir", "me equivoque")
"""Words that, opening a clause, tell a message corrects an earlier answer ("no, it's a repair", "actually…"),
English and Spanish, folded. A "no" counts only as a clause of its own or before a pronoun ("no it's a
repair"), not in "no rush" (:data:`graph.reading.mentions.ANSWERING_NO`)."""


@dataclass(frozen=True)
class Taken:
    """A message applied to the answers.

    Attributes:
        answers: question id → value after the message.
        changed: ids whose answer the message set or replaced.
        understood: ids to confirm back: read from free text (not the pending question), or corrected.
        inferred: ids confirmed back this turn: on the next turn only, a different reading replaces them
            without a correction word (the prospect answering the "Got it").
        pending_read: the pending question got its answer.
    """

    answers: dict[str, Any]
    changed: list[str] = field(default_factory=list)
    understood: list[str] = field(default_factory=list)
    inferred: list[str] = field(default_factory=list)
    pending_read: bool = False


def take(playbook: Playbook, answers: dict[str, Any], *, text: str, pending: str | None, tap: str | None = None,
         proposals: dict[str, Any] | None = None, inferred: list[str] | None = None) -> Taken:
    """Apply message ``text`` (or a tapped button ``tap``) to ``answers``; ``pending`` is the question just
    asked (None for a first message or after the outcome). ``proposals``: a model's raw answers, or None.
    ``inferred``: the ids the last turn confirmed back (:attr:`Taken.inferred`)."""
    tapped = read_tap(playbook, tap)
    read = {tapped[0]: tapped[1]} if tapped else read_message(playbook, text, pending=pending).answers
    settled = {qid for qid, value in answers.items() if value is not None}
    merged = merge_proposal(playbook, read, proposals or {}, answered=settled, text=text,
                            pending=pending) if not tapped else read
    out, changed, understood = dict(answers), [], []
    marked = corrects(text)
    just_confirmed = set(inferred or [])
    for qid, value in merged.items():
        if qid in settled and (out[qid] == value or qid not in read or not (marked or tapped or qid in just_confirmed)):
            continue  # the same answer again, a model's guess at an answered question, or no sign of a correction
        out[qid] = value
        changed.append(qid)
        if qid != pending or qid in settled:
            understood.append(qid)
    return Taken(answers=out, changed=changed, understood=understood,
                 inferred=[qid for qid in understood if not tapped],
                 pending_read=pending is not None and pending in changed)


def understood_text(playbook: Playbook, ids: list[str], answers: dict[str, Any], language: str | None) -> str | None:
    """``replies.understood`` naming the answers of ``ids`` ("Got it: a full replacement, in 80203."), or None."""
    clauses = []
    for question in playbook.questions:
        if question.id not in ids or answers.get(question.id) is None:
            continue
        value = answers[question.id]
        key = key_of(question, value)
        named = confirmation(playbook, question, key, language) if key else display(value)
        clauses.append(render(playbook.text(f"confirm.{question.id}", language), answer=named))
    if not clauses:
        return None
    return render(playbook.text("replies.understood", language), understood=", ".join(clauses))


def corrects(text: str) -> bool:
    """Whether ``text`` says it corrects an earlier answer: a :data:`CORRECTION_MARKERS` word opens one of its
    clauses ("no, it's a repair", "sorry, I meant 80203", "it's 80211 actually" does not: say "actually, …")."""
    said = words(text)
    for marker in find(said, {"correction": list(CORRECTION_MARKERS)}, threshold=101):
        first = said[marker.start]
        opens = marker.start == 0 or said[marker.start - 1].clause != first.clause
        if not opens:
            continue
        if first.text != "no" or marker.end == len(said) or said[marker.end].clause != first.clause \
                or said[marker.end].text in ANSWERING_NO:
            return True
    return False
