"""Conversation jobs: a prospect's pending turns in arrival order (:func:`process_conversation`), a captured
lead's first touch, the stall check that enrols a lead gone quiet, and the CRM note at an outcome."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.conversation.compliance import opt_outs_first
from bot.conversation.dead_letters import turn_failed
from bot.conversation.first_touch import start_conversation
from bot.conversation.thread import TurnResult
from bot.conversation.turns import run_turn
from bot.reps.notes import note_conversation
from cadence.clock import scaled
from cadence.dispatch import dispatch
from cadence.enrollment import enroll_stalled
from jobs.process import current
from jobs.sends import send_now_in_order
from runtime import Runtime
from runtime.businesses import UnknownBusiness
from store.inbound import next_pending, sender_of
from store.tenancy import DEFAULT_BUSINESS_ID

log = logging.getLogger(__name__)


def process_conversation(message_id: int | str) -> int:
    """Job: run each pending turn of the conversation inbound message ``message_id`` belongs to, oldest first,
    sending replies as it goes. (A job queued by an earlier release may carry the sender's address instead.)

    A turn that fails is dead-lettered and skipped unless a dependency is away and attempts are left
    (:func:`bot.conversation.dead_letters.turn_failed`); then this job raises and RQ retries it. Either way the
    sender's STOPs behind the failing message are applied first.

    Returns the number of turns run.
    """
    rt = current()
    if isinstance(message_id, str):  # an earlier release's job: one business then, the default one
        conversation: tuple[int, str] | None = (DEFAULT_BUSINESS_ID, message_id)
    else:
        with rt.sessions() as session:
            conversation = sender_of(session, message_id=message_id)
    if conversation is None:  # erased since it was queued
        return 0
    business_id, sender = conversation
    try:
        rt = rt.for_business(business_id)
    except UnknownBusiness:  # its business was deleted since: nothing of it is left to answer
        log.warning("conversation of message %s belongs to no business any more; dropped", message_id)
        return 0
    turns = 0
    while True:
        with rt.sessions() as session:
            message = next_pending(session, business_id=business_id, from_address=sender)
            pending, failed_before = (message.id, message.attempts > 0) if message else (None, False)
        if pending is None:
            return turns
        if failed_before:  # a STOP that arrived behind a failing message takes effect before it is tried again
            opt_outs_first(rt, sender, after=pending)
        try:
            turn = run_turn(rt, pending)
        except Exception as exc:
            if turn_failed(rt, sender=sender, message_id=pending, exc=exc):
                continue  # dead-lettered: the sender's next message
            raise
        _after_turn(rt, turn)
        turns += 1


def _after_turn(rt: Runtime, turn: TurnResult) -> None:
    """What a committed turn left to do: its sends in order, its touches, the stall check, the CRM note."""
    send_now_in_order(rt, turn.outbox_ids)
    if turn.touch_ids:
        dispatch(rt, turn.touch_ids)
    if turn.awaiting_lead is not None:
        _stall_check(rt, turn.awaiting_lead)
    if turn.outcome_lead is not None and rt.llm is not None:
        rt.jobs.crm_note(turn.outcome_lead)


def _stall_check(rt: Runtime, lead_id: int) -> None:
    """Look again when ``stall_after`` (scaled) has passed; 1 s is added because RQ schedules in whole seconds."""
    scoped = rt.for_lead_id(lead_id)  # the playbook version the lead's conversation started on
    if scoped is not None:
        rt.jobs.stall_check(lead_id, scaled(scoped.playbook.cadence.stall_after_s, rt.settings.cadence_seconds_per_day)
                            + timedelta(seconds=1))


def check_stall(lead_id: int) -> int:
    """Job: enrol the lead if it is still silent mid-qualification; returns the touches queued."""
    rt = current()
    owed = enroll_stalled(rt, lead_ids=[lead_id])
    return dispatch(rt, owed) if owed else 0


def send_first_touch(lead_id: int, capture_id: int) -> int:
    """Job: send a captured lead's T+0 first touch (``POST /leads``); returns how many messages it queued."""
    rt = current().for_lead_id(lead_id)
    if rt is None:  # erased since it was queued
        return 0
    turn = start_conversation(rt, lead_id=lead_id, capture_id=capture_id)
    send_now_in_order(rt, turn.outbox_ids)
    if turn.awaiting_lead is not None:
        _stall_check(rt, turn.awaiting_lead)
    return len(turn.outbox_ids)


def write_crm_note(lead_id: int) -> bool:
    """Job: the model's few-line summary of the lead's conversation on its timeline (see ``bot.reps.notes``)."""
    rt = current().for_lead_id(lead_id)
    return rt is not None and note_conversation(rt, lead_id)
