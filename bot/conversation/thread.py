"""A conversation's graph thread: the few lead facts a turn needs (:class:`LeadRef`, whose thread id is the
checkpointer's), running the graph once per turn key (:func:`run_graph`), and what a committed turn leaves to do
(:class:`TurnResult`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graph.context import TurnContext
from runtime import Runtime
from store.checkpoints import prune_thread, thread_id

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

PRUNE_EVERY_TURNS = 1
"""A conversation's old checkpoints are dropped every this many turns (at most this many are kept). Every
turn keeps the database flat per turn (bench/turns.py: 15 KB per 10-turn conversation on SQLite); Postgres's
prune costs a few milliseconds a turn, which a larger value would spread."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnResult:
    """What a committed turn left to do: outbox rows to send and touches to put in Redis."""

    outbox_ids: list[int] = field(default_factory=list)
    touch_ids: list[int] = field(default_factory=list)
    awaiting_lead: int | None = None
    """The lead, when the turn left its qualification open (a stall check is due after ``stall_after``)."""
    outcome_lead: int | None = None
    """The lead, when this turn brought it to an outcome (its CRM note is due)."""


@dataclass(frozen=True)
class LeadRef:
    """The few lead facts a turn needs outside a database session."""

    id: int
    business_id: int
    phone: str
    channel: str
    name: str | None

    @property
    def thread_id(self) -> str:
        """The conversation's checkpointer thread: one per (business, channel, phone)
        (``store.checkpoints.thread_id``)."""
        return thread_id(self.business_id, self.channel, self.phone)

    @property
    def config(self) -> RunnableConfig:
        """The graph's run config for the conversation's thread."""
        return {"configurable": {"thread_id": self.thread_id}}


def run_graph(rt: Runtime, lead: LeadRef, *, turn: str, body: str,
              understanding: dict[str, Any] | None = None, tap: str | None = None) -> dict[str, Any]:
    """The graph's state after ``turn``, running it only if it has not run yet.

    ``understanding`` is a model's proposal for ``body`` (``graph.understanding.clean``), or None. ``tap`` is the id
    of the WhatsApp button or list item the message tapped (``ButtonPayload``/``ListId``), or None: typed text.
    """
    saved = rt.graph.get_state(lead.config).values
    if saved.get("last_turn") == turn:
        return saved
    context = TurnContext(playbook=rt.playbook, phone=lead.phone, name=lead.name, lead_ref=f"lead-{lead.id}")
    values = rt.graph.invoke({"inbound": body, "turn": turn, "understanding": understanding, "tap": tap}, lead.config,
                             context=context, durability="exit")
    if values.get("turns_taken", 0) % PRUNE_EVERY_TURNS == 0:
        try:
            prune_thread(rt.checkpointer, lead.thread_id)
        except Exception:  # housekeeping: a later turn prunes again
            log.warning("could not prune the checkpoints of a conversation", exc_info=True)
    return values
