"""A send's life at Twilio: the claim that lets exactly one worker hand a row over, the re-checks right before
the call, and recording what Twilio answered (MessageSid, status callbacks, failures). Rows are queued in
:mod:`store.outbox`, whose docstring draws the states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from store.models import Activity, Lead, Message, Suppression, Touch, utcnow
from store.suppression import phone_hash

_messages = cast(Table, Message.__table__)  # typed as any FromClause; a class with a __tablename__ maps a Table

# Twilio's message statuses in the order they can happen; a callback never moves a message back.
# Source: https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "undelivered": 5, "failed": 5, "delivered": 6, "read": 7, "canceled": 5,
}


@dataclass(frozen=True)
class ClaimedSend:
    """An outbound row this caller has claimed: what the re-check and the Twilio call need."""

    id: int
    lead_id: int | None
    kind: str
    to_address: str
    body: str | None
    from_address: str | None
    messaging_service_sid: str | None
    content_sid: str | None
    content_variables: dict[str, Any] | None
    business_id: int
    """The business sending it: its opt-out list is the one checked."""



@dataclass(frozen=True)
class SendChecks:
    """What may stop a claimed row right before its Twilio call, read in one statement."""

    earlier_unsent: bool
    """An earlier row to the same recipient of the same lead is still pending or claimed."""
    suppressed: bool
    """The number has opted out of the sending business (its suppression list, which outlives erasure)."""
    lead_status: str | None
    stop_reason: str | None



_CLAIM_FOR_SEND = (
    update(_messages)
    .where(_messages.c.id == bindparam("message_id"), _messages.c.outbox_state == "pending",
           or_(_messages.c.send_after.is_(None), _messages.c.send_after <= bindparam("now")))
    .values(outbox_state="claimed", claimed_at=bindparam("now"), attempts=_messages.c.attempts + 1)
    .returning(_messages.c.id, _messages.c.lead_id, _messages.c.kind, _messages.c.to_address, _messages.c.body,
               _messages.c.from_address, _messages.c.messaging_service_sid, _messages.c.content_sid,
               _messages.c.content_variables, _messages.c.business_id))
"""Built once: every send runs it, and building a statement costs more than running it on SQLite."""


_earlier = _messages.alias("earlier")


_EARLIER_UNSENT = select(_earlier.c.id).where(
    _earlier.c.lead_id == bindparam("lead_id"), _earlier.c.id < bindparam("message_id"),
    _earlier.c.to_address == bindparam("to_address"), _earlier.c.outbox_state.in_(("pending", "claimed"))).exists()


_SUPPRESSED = select(Suppression.__table__.c.phone_hash).where(
    Suppression.__table__.c.business_id == bindparam("business_id"),
    Suppression.__table__.c.phone_hash == bindparam("phone_hash")).exists()


_leads = Lead.__table__


_SEND_CHECKS = select(_EARLIER_UNSENT, _SUPPRESSED, _leads.c.status, _leads.c.stop_reason).where(
    _leads.c.id == bindparam("lead_id"))


_SUPPRESSED_ONLY = select(_SUPPRESSED)


def claim_for_send(session: Session, *, message_id: int) -> ClaimedSend | None:
    """:func:`claim` returning the row's fields in the same statement (UPDATE … RETURNING, SQLite 3.35+ and
    Postgres); None when the row was not pending or not due, so exactly one caller gets it."""
    row = session.connection().execute(_CLAIM_FOR_SEND, {"message_id": message_id, "now": utcnow()}).one_or_none()
    return ClaimedSend(*row) if row is not None else None



def claim(session: Session, *, message_id: int) -> bool:
    """Take a pending, due row for sending; True for exactly one caller, False if it was not pending or not due."""
    return claim_for_send(session, message_id=message_id) is not None



def send_checks(session: Session, claimed: ClaimedSend) -> SendChecks:
    """The re-checks for ``claimed`` (earlier unsent row, opt-out, the lead's status and stop reason) in one SELECT."""
    connection = session.connection()
    key = phone_hash(claimed.to_address)
    row = None
    if claimed.lead_id is not None:
        row = connection.execute(_SEND_CHECKS, {"lead_id": claimed.lead_id, "message_id": claimed.id,
                                                "to_address": claimed.to_address, "phone_hash": key,
                                                "business_id": claimed.business_id}).one_or_none()
    if row is None:  # no lead, or it was erased since the row was queued
        suppressed = connection.execute(_SUPPRESSED_ONLY, {"phone_hash": key, "business_id": claimed.business_id})
        return SendChecks(False, bool(suppressed.scalar()), None, None)
    return SendChecks(bool(row[0]), bool(row[1]), row[2], row[3])



@dataclass(frozen=True)
class SentRecord:
    """A send Twilio accepted, to be recorded: the row, Twilio's answer and when it came (UTC)."""

    message_id: int
    lead_id: int | None
    kind: str
    twilio_sid: str
    status: str | None
    from_address: str | None
    """The sender Twilio used (a Messaging Service picks one), else the row's own."""
    sent_at: datetime
    business_id: int | None = None
    """The sending business (None in a record an earlier release kept: read from the lead)."""



def record_sent(session: Session, records: list[SentRecord], *, prospect_kinds: frozenset[str]) -> None:
    """Record sends Twilio accepted, any number in a handful of statements: each row ``sent`` with its
    MessageSid, its touch ``sent``, a ``message`` entry on the lead's timeline, the lead's last activity,
    and its first response when a message of ``prospect_kinds`` is the first to reach the lead."""
    if not records:
        return
    session.execute(update(Message), [
        {"id": r.message_id, "outbox_state": "sent", "twilio_sid": r.twilio_sid, "status": r.status,
         "sent_at": r.sent_at, "status_at": r.sent_at, "from_address": r.from_address} for r in records])
    touch_ids = [r.message_id for r in records if r.kind == "touch"]
    if touch_ids:
        session.execute(update(Touch).where(Touch.message_id.in_(touch_ids), Touch.result.is_(None))
                        .values(result="sent").execution_options(synchronize_session=False))
    on_timeline = [r for r in records if r.lead_id is not None]
    if not on_timeline:
        return
    missing = {r.lead_id for r in on_timeline if r.business_id is None}
    owners = {lead_id: business_id for lead_id, business_id in session.execute(
        select(Lead.id, Lead.business_id).where(Lead.id.in_(missing)))} if missing else {}
    session.execute(insert(Activity), [
        {"business_id": r.business_id if r.business_id is not None else owners.get(cast(int, r.lead_id)), "lead_id": r.lead_id,
            "kind": "message",
         "created_at": r.sent_at,
         "data": {"direction": "outbound", "message_id": r.message_id, "message_kind": r.kind}} for r in on_timeline])
    now = utcnow()
    first = sorted({r.lead_id for r in records if r.lead_id is not None and r.kind in prospect_kinds})
    others = sorted({r.lead_id for r in records if r.lead_id is not None} - set(first))
    if first:
        session.execute(update(Lead).where(Lead.id.in_(first)).values(
            last_activity_at=now, first_response_at=func.coalesce(Lead.first_response_at, now))
            .execution_options(synchronize_session=False))
    if others:
        session.execute(update(Lead).where(Lead.id.in_(others)).values(last_activity_at=now)
                        .execution_options(synchronize_session=False))



def record_sent_if_claimed(session: Session, records: list[SentRecord], *, prospect_kinds: frozenset[str]) -> int:
    """Record, as :func:`record_sent`, only the sends whose row is still ``claimed``: for records kept while the
    database was away, which another pass (or :func:`mark_sent` after asking Twilio) may have settled meanwhile.
    The rows are taken in one ``UPDATE … WHERE outbox_state = 'claimed'``, so two passes never record one
    twice. Returns how many were recorded."""
    if not records:
        return 0
    taken = set(session.scalars(
        update(Message).where(Message.id.in_([r.message_id for r in records]), Message.outbox_state == "claimed")
        .values(outbox_state="sent").returning(Message.id).execution_options(synchronize_session=False)))
    record_sent(session, [r for r in records if r.message_id in taken], prospect_kinds=prospect_kinds)
    return len(taken)



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



def recipient(session: Session, *, twilio_sid: str) -> tuple[int, str] | None:
    """``(business id, address)`` a message went to, by MessageSid: a status callback finds its business by its
    message. None for an unknown sid."""
    row = session.execute(select(Message.business_id, Message.to_address).where(Message.twilio_sid == twilio_sid)).first()
    return None if row is None else (row[0], row[1])



def stale_claims(session: Session, *, claimed_before: datetime, limit: int = 100) -> list[Message]:
    """Rows claimed before ``claimed_before`` and never recorded: their worker died mid-send."""
    return list(session.scalars(
        select(Message).where(Message.outbox_state == "claimed", Message.claimed_at < claimed_before)
        .order_by(Message.id).limit(limit)))

