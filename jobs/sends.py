"""Sending outbox rows from jobs: one row (:func:`send_message`) or a turn's rows in order
(:func:`send_in_order`); a row Twilio could not take yet is queued again for later."""

from __future__ import annotations

from bot.delivery.result import SendResult
from bot.delivery.send import send
from jobs.enqueue import RETRY_DELAYS_S
from jobs.process import current
from runtime import Runtime
from store import outbox
from store.models import utcnow


def send_now_in_order(rt: Runtime, outbox_ids: list[int]) -> None:
    """Send outbox rows now, in order. When one cannot go yet (Twilio not reached, asked to slow down, or the
    sender's rate is used up) it and every row after it are queued together for later, so a prospect never
    gets a turn's messages out of order; a row held for later (a rep alert waiting for the call window) is
    queued for its time."""
    for index, outbox_id in enumerate(outbox_ids):
        result = send(rt, outbox_id)
        if result.not_taken_yet:
            delay = (held_for(rt, outbox_id) + 1.0 if result is SendResult.THROTTLED
                     else 1.0 if result is SendResult.WAITING else RETRY_DELAYS_S[0])
            rt.jobs.send_in_order(list(outbox_ids[index:]), delay_s=delay)
            return
        if result is SendResult.NOT_PENDING:
            rt.jobs.send_held(outbox_id)


def send_in_order(outbox_ids: list[int]) -> int:
    """Job: send a turn's remaining rows in order (see :func:`send_now_in_order`); returns how many were given."""
    send_now_in_order(current(), outbox_ids)
    return len(outbox_ids)


def send_message(message_id: int) -> str:
    """Job: send one outbox row; a send to retry is queued again with a delay.

    Returns what happened (a :class:`bot.delivery.result.SendResult` value).
    """
    rt = current()
    result = send(rt, message_id)
    if result is SendResult.RETRY:
        rt.jobs.send(message_id, delay_s=RETRY_DELAYS_S[1])
    elif result in (SendResult.THROTTLED, SendResult.NOT_PENDING):
        rt.jobs.send_held(message_id)  # a row not due yet is queued again for its time
    return result.value


def held_for(rt: Runtime, outbox_id: int) -> float:
    """Seconds until the row's ``send_after`` (0 when none or past)."""
    with rt.sessions() as session:
        until = outbox.send_after(session, message_ids=[outbox_id]).get(outbox_id)
    return max(0.0, (until - utcnow()).total_seconds()) if until else 0.0


def requeue(rt: Runtime, message_id: int) -> None:
    """Queue a send Twilio could not take yet again: after the first retry delay, or at its send-rate slot."""
    rt.jobs.send(message_id, delay_s=max(RETRY_DELAYS_S[0], held_for(rt, message_id)))
