"""The outbox: every send is a row before it is a Twilio call.

Life of an outbound row (``Message.outbox_state``)::

    pending ──claim()──► claimed ──mark_sent()──► sent        (Twilio has it; ``status`` follows callbacks)
       │                    ├──────mark_failed()──► failed      (Twilio refused it, or a crash left it unknown)
       │                    └──────release()──────► pending     (Twilio not reached; try again)
       └──cancel_pending()──────────────────────► cancelled   (opt-out, or nothing left to say)

``claim`` is one conditional UPDATE, so of any number of workers racing for a row exactly
one wins; a row is handed to Twilio at most once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Message, utcnow

AWAITING_APPROVAL = "awaiting_approval"
"""A model-drafted touch for a hot lead, held until a rep approves it (it is never claimed before)."""

# Twilio's message statuses in the order they can happen; a callback never moves a message back.
# Source: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "undelivered": 5, "failed": 5, "delivered": 6, "read": 7, "canceled": 5,
}


def add_outbound(
    session: Session, *, lead_id: int | None, kind: str, to_address: str, body: str | None,
    dedupe_key: str, from_address: str | None = None, messaging_service_sid: str | None = None,
    content_sid: str | None = None, content_variables: dict[str, Any] | None = None,
    send_after: datetime | None = None, state: str = "pending",
) -> int | None:
    """Queue a message for sending (not before ``send_after``, UTC); returns its id, or None when
    ``dedupe_key`` was already queued.

    The unique ``dedupe_key`` makes re-running the code that queued it harmless.
    """
    if session.scalar(select(Message.id).where(Message.dedupe_key == dedupe_key)) is not None:
        return None
    row = Message(lead_id=lead_id, direction="outbound", kind=kind, to_address=to_address, body=body,
                  from_address=from_address, messaging_service_sid=messaging_service_sid,
                  content_sid=content_sid, content_variables=content_variables, send_after=send_after,
                  dedupe_key=dedupe_key, outbox_state=state)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row.id


def claim(session: Session, *, message_id: int) -> bool:
    """Take a pending, due row for sending; True for exactly one caller, False if it was not pending or not due."""
    now = utcnow()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.outbox_state == "pending",
               or_(Message.send_after.is_(None), Message.send_after <= now))
        .values(outbox_state="claimed", claimed_at=utcnow(), attempts=Message.attempts + 1)
    )
    return result.rowcount == 1


def earlier_unsent(session: Session, *, message_id: int) -> bool:
    """Whether an earlier outbound row of the same lead to the same address is still pending or claimed
    (sending this one first would deliver a turn's messages out of order)."""
    row = session.get(Message, message_id)
    if row is None or row.lead_id is None:
        return False
    return session.scalar(select(Message.id).where(
        Message.lead_id == row.lead_id, Message.id < message_id, Message.to_address == row.to_address,
        Message.outbox_state.in_(("pending", "claimed"))).limit(1)) is not None


def mark_sent(session: Session, *, message_id: int, twilio_sid: str, status: str | None,
              from_address: str | None) -> None:
    """Record that Twilio accepted the message under ``twilio_sid``."""
    session.execute(
        update(Message).where(Message.id == message_id)
        .values(outbox_state="sent", twilio_sid=twilio_sid, status=status, sent_at=utcnow(), status_at=utcnow(),
                **({"from_address": from_address} if from_address else {}))
    )


def mark_failed(session: Session, *, message_id: int, error_code: int | None, error_message: str) -> None:
    """Record that the message will not be sent (refused by Twilio, or its fate is unknown)."""
    session.execute(
        update(Message).where(Message.id == message_id)
        .values(outbox_state="failed", status="failed", error_code=error_code, error_message=error_message[:500],
                status_at=utcnow())
    )


def release(session: Session, *, message_id: int, error_message: str | None,
            send_after: datetime | None = None) -> None:
    """Put a claimed row back to pending: Twilio was never reached, so sending again is safe.

    ``send_after`` (UTC) holds it until then (its slot in the sender's send rate).
    """
    values: dict[str, Any] = {"outbox_state": "pending", "claimed_at": None}
    if error_message is not None:
        values["error_message"] = error_message[:500]
    if send_after is not None:
        values["send_after"] = send_after
    session.execute(update(Message).where(Message.id == message_id, Message.outbox_state == "claimed").values(**values))


def cancel(session: Session, *, message_id: int, reason: str) -> None:
    """Cancel a claimed or pending row (e.g. the recipient opted out since it was queued)."""
    session.execute(
        update(Message).where(Message.id == message_id, Message.outbox_state.in_(("pending", "claimed")))
        .values(outbox_state="cancelled", error_message=reason)
    )


def cancel_pending(session: Session, *, to_addresses: list[str], reason: str) -> int:
    """Cancel every pending row to these addresses; returns how many."""
    result = session.execute(
        update(Message).where(Message.to_address.in_(to_addresses),
                              Message.outbox_state.in_(("pending", AWAITING_APPROVAL)))
        .values(outbox_state="cancelled", error_message=reason)
    )
    return result.rowcount


def record_status(session: Session, *, twilio_sid: str, status: str, error_code: int | None) -> None:
    """Apply a status callback in one statement; the status only moves forward.

    A callback that arrives late (``sent`` after ``delivered``) or for an unknown sid changes nothing.
    """
    rank = STATUS_RANK.get(status, 0)
    current = case(STATUS_RANK, value=Message.status, else_=0)
    values: dict[str, Any] = {"status": status, "status_at": utcnow()}
    if error_code is not None:
        values["error_code"] = error_code
    session.execute(update(Message).where(Message.twilio_sid == twilio_sid, current < rank).values(**values))


def recipient(session: Session, *, twilio_sid: str) -> str | None:
    """The address a message went to, by MessageSid; None for an unknown sid."""
    return session.scalar(select(Message.to_address).where(Message.twilio_sid == twilio_sid))


def pending_ids(session: Session, *, older_than: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending rows (oldest first), for the reconciler to re-enqueue."""
    query = select(Message.id).where(Message.outbox_state == "pending")
    if older_than is not None:
        query = query.where(func.coalesce(Message.send_after, Message.created_at) < older_than)
    return list(session.scalars(query.order_by(Message.id).limit(limit)))


def stale_claims(session: Session, *, claimed_before: datetime, limit: int = 100) -> list[Message]:
    """Rows claimed before ``claimed_before`` and never recorded: their worker died mid-send."""
    return list(session.scalars(
        select(Message).where(Message.outbox_state == "claimed", Message.claimed_at < claimed_before)
        .order_by(Message.id).limit(limit)))
