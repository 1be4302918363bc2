"""The conversation's state, kept per thread (one thread per channel + phone) by the checkpointer.

Values are JSON-native so any LangGraph checkpointer can store them.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from graph.scoring import Score

Phase = Literal["new", "asking", "done"]
Outcome = Literal["qualified", "nurture", "disqualified"]


class TurnInput(TypedDict):
    """What one inbound message puts into the graph."""

    inbound: str
    """The prospect's text for this turn ("" for a conversation the business starts)."""
    turn: str
    """What the turn answers: ``in:<message id>`` or ``start:<capture event id>``; a turn is run once per key."""
    understanding: NotRequired[dict[str, Any] | None]
    """A language model's proposal for this message (``graph.understanding.clean``), or None: the
    deterministic path. Saved with the turn, so a re-run reads the same proposal."""
    tap: NotRequired[str | None]
    """The id of the WhatsApp button the prospect tapped (Twilio's ``ButtonPayload`` or ``ListId``), or None:
    an exact answer (``graph.buttons.read_tap``), read before the text. Pass it on every turn (None when the
    prospect typed): a key left out keeps the last turn's value in the state."""


class ConversationState(TypedDict, total=False):
    """The whole conversation as the graph sees it."""

    inbound: str
    turn: str
    understanding: dict[str, Any] | None
    tap: str | None
    language: str | None
    """The prospect's language once known: ``business.language`` or a locale's code (``es``); None: not known yet,
    the default texts."""
    asked: bool
    """This turn's replies already end with a question (a re-ask); nothing more to ask."""
    asking: str | None
    """The id of the question this turn's last reply asks, or None: the sender may offer its answers as
    buttons (``graph.buttons``)."""
    turns_taken: int
    """Turns run in this conversation so far (the caller prunes old checkpoints every few)."""
    last_turn: str
    """Key of the last completed turn; lets a retried job find its replies instead of running it twice."""
    phase: Phase
    question_index: int
    """Index of the question being asked (phase ``asking``)."""
    attempts: int
    """Unparseable answers to the current question so far."""
    reasks: int
    """Re-asks over the whole conversation (lowers engagement)."""
    answers: dict[str, Any]
    """Question id → parsed value; None records an answer given up on as unknown."""
    inferred: list[str]
    """Ids of answers read from free text rather than given to their question; a later reading replaces them
    without the prospect having to say it is a correction (``graph.answering``)."""
    understood: str | None
    """This turn's clause confirming answers read from free text ("Got it: a full replacement."), put before
    the next question or the outcome; None when there is nothing to confirm."""
    corrected: bool
    """This turn, after the outcome, corrected an answer: the lead is scored and decided again."""
    disqualified: bool
    """The prospect is outside the service area."""
    score: Score | None
    """Set by the ``score`` node once the questions are done (or the lead is out of the area)."""
    outcome: Outcome | None
    replies: list[str]
    """Texts to send the prospect for this turn, in order (overwritten each turn)."""
    rep_alert: str | None
    """Text to send every rep for this turn, if any (set on the qualifying turn)."""
