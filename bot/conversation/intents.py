"""What a language model may read in a message besides answers (``graph.understanding``), and the intents code
acts on instead of the conversation: opt-out in words, a wish for a person, anger, a wrong number."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.replies import reply_to
from bot.conversation.thread import LeadRef, TurnResult
from bot.delivery.rep_texts import notify_owner
from bot.reps import actions as lead_actions
from cadence import enrollment
from graph.reading.message import read_message
from graph.texts import placeholders_for, render
from graph.understanding import settled_without_model
from runtime import Runtime
from store import consent
from store.leads import CLOSED_STATUSES, add_activity, mark_processed, set_status
from store.models import Lead, Message

log = logging.getLogger(__name__)


def understand(rt: Runtime, lead: LeadRef, *, turn: str, body: str, tap: str | None = None) -> dict[str, Any] | None:
    """A model's proposal for an inbound message, or None: no model configured, a tapped button, the turn
    already ran, or the deterministic reading settles the message (``graph.understanding.settled_without_model``:
    the model is asked only about what it did not read), or the call failed."""
    if rt.llm is None or not body.strip() or tap:
        return None
    saved = rt.graph.get_state(lead.config).values
    if saved.get("last_turn") == turn:
        return None
    pending = rt.playbook.questions[saved["question_index"]].id if saved.get("phase") == "asking" else None
    answered = {qid for qid, value in (saved.get("answers") or {}).items() if value is not None}
    reading = read_message(rt.playbook, body, pending=pending)
    if settled_without_model(rt.playbook, reading, pending=pending, answered=answered, text=body):
        return None
    return rt.llm.understand(body, pending=pending, lead_id=lead.id)


def act_on_intent(session: Session, rt: Runtime, *, lead_id: int, message_id: int, body: str,
                  understanding: dict[str, Any]) -> TurnResult:
    """Intents code acts on instead of the conversation.

    ``opt_out`` in words is a STOP (the number is suppressed on every channel); ``wants_human``
    and ``angry`` hand the lead to its owner (the bot goes silent, the rep is told); a
    ``wrong_number`` gets an apology and the lead is closed as lost (``other``).
    """
    lead, message = session.get(Lead, lead_id), session.get(Message, message_id)
    if lead is None or message is None:  # erased since the turn began (run_turn read both): nothing to act on
        return TurnResult()
    intent = understanding["intent"]
    mark_processed(session, message_id=message_id)
    add_activity(session, lead_id=lead.id, kind="intent", intent=intent, message_id=message_id)
    if intent == "opt_out":
        consent.opt_out(session, phone=lead.phone, keyword="in words", source="words", text=body)
        return TurnResult()
    language = understanding.get("language") if understanding.get("language") in rt.playbook.locales else None
    texts = placeholders_for(rt.playbook, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                             answers=lead.answers or {})
    queued: list[int | None] = []
    if intent == "wrong_number":
        queued += reply_to(session, rt, lead, message,
                         render(rt.playbook.text("replies.wrong_number", language), **texts))
        set_status(session, lead=lead, status="lost", lost_reason="other")
        enrollment.stop(session, lead, reason="closed")
        return TurnResult(outbox_ids=[i for i in queued if i])
    owner = rt.playbook.rep_named(lead.owner) or rt.playbook.reps[0]
    texts["rep"] = owner.name
    queued += reply_to(session, rt, lead, message,
                     render(rt.playbook.text("replies.handoff", language), **texts))
    if lead.status not in CLOSED_STATUSES:
        lead_actions.take_over(session, lead, rep=owner.name)
    why = "asks for a person" if intent == "wants_human" else "sounds upset"
    queued += notify_owner(session, rt, lead, f"Lead #{lead.id} {why}; the bot has stepped back. "
                                        f"They wrote: {body}"[:1500], key=f"intent:{message_id}")
    return TurnResult(outbox_ids=[i for i in queued if i])
