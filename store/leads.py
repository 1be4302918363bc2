"""Leads: creation from inbound contact, status changes and the timeline.

Functions take the session first and everything else by keyword; callers own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import LEAD_STATUSES, Activity, CaptureEvent, Lead, Message, utcnow


@dataclass(frozen=True)
class InboundRecord:
    """What storing one inbound message did.

    Attributes:
        lead_id: the lead the message belongs to.
        message_id: the stored message; None when ``duplicate``.
        duplicate: the MessageSid was already stored (a Twilio retry); nothing was written.
        new_lead: this message created the lead.
    """

    lead_id: int | None
    message_id: int | None
    duplicate: bool
    new_lead: bool = False


def add_activity(session: Session, *, lead_id: int, kind: str, **data: Any) -> None:
    """Append an entry to the lead's timeline."""
    session.add(Activity(lead_id=lead_id, kind=kind, data=data))


def set_status(session: Session, *, lead: Lead, status: str, lost_reason: str | None = None) -> bool:
    """Move the lead to ``status`` and record a ``status_change``; False when it already was there.

    Raises:
        ValueError: ``status`` is not one of ``LEAD_STATUSES``.
    """
    if status not in LEAD_STATUSES:
        raise ValueError(f"unknown lead status {status!r}")
    if lost_reason is not None:
        lead.lost_reason = lost_reason
    if lead.status == status:
        return False
    add_activity(session, lead_id=lead.id, kind="status_change", **{"from": lead.status, "to": status},
                 **({"reason": lost_reason} if lost_reason else {}))
    lead.status = status
    return True


def status_before_opt_out(session: Session, *, lead_id: int) -> str:
    """The status a lead had before its last opt-out (``contacted`` when unknown)."""
    rows = session.scalars(
        select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "status_change")
        .order_by(Activity.id.desc())
    )
    for activity in rows:
        if activity.data.get("to") == "opted_out":
            return activity.data.get("from") or "contacted"
    return "contacted"


def record_inbound(
    session: Session, *, channel: str, phone: str, business_address: str, message_sid: str, body: str,
    profile_name: str | None, media: dict[str, Any] | None, received_at: datetime,
) -> InboundRecord:
    """Store an inbound message, creating its lead and capture event on first contact.

    Idempotent on ``message_sid``: a second delivery of the same message (Twilio retries
    webhooks) writes nothing and reports ``duplicate``. Safe under concurrent deliveries
    from several web processes: the unique keys decide, inside savepoints.
    """
    if session.scalar(select(Message.id).where(Message.twilio_sid == message_sid)) is not None:
        return InboundRecord(lead_id=None, message_id=None, duplicate=True)
    lead, created = _get_or_create_lead(session, channel=channel, phone=phone, profile_name=profile_name,
                                        business_address=business_address, received_at=received_at)
    message = Message(lead_id=lead.id, direction="inbound", kind="prospect", to_address=business_address,
                      from_address=lead.address, body=body, media=media, twilio_sid=message_sid,
                      status="received", created_at=received_at)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return InboundRecord(lead_id=lead.id, message_id=None, duplicate=True)
    if profile_name and lead.profile_name != profile_name:
        lead.profile_name = profile_name
    lead.last_inbound_at = received_at
    lead.business_address = business_address
    add_activity(session, lead_id=lead.id, kind="message", direction="inbound", message_id=message.id)
    if created:
        session.add(CaptureEvent(event_id=message_sid, lead_id=lead.id, source=lead.source, received_at=received_at,
                                 channel=channel, contact_method=channel))
        add_activity(session, lead_id=lead.id, kind="capture", event_id=message_sid, source=lead.source)
    return InboundRecord(lead_id=lead.id, message_id=message.id, duplicate=False, new_lead=created)


def _get_or_create_lead(session: Session, *, channel: str, phone: str, profile_name: str | None,
                        business_address: str, received_at: datetime) -> tuple[Lead, bool]:
    query = select(Lead).where(Lead.channel == channel, Lead.phone == phone)
    lead = session.scalar(query)
    if lead is not None:
        return lead, False
    lead = Lead(channel=channel, phone=phone, profile_name=profile_name, source=f"inbound_{channel}",
                status="new", business_address=business_address, created_at=received_at, answers={})
    try:
        with session.begin_nested():
            session.add(lead)
    except IntegrityError:  # another process created it between our select and insert
        return session.scalars(query).one(), False
    return lead, True


def mark_processed(session: Session, *, message_id: int) -> None:
    """Mark an inbound message's turn as committed."""
    session.execute(update(Message).where(Message.id == message_id).values(processed_at=utcnow()))


def next_unprocessed(session: Session, *, lead_id: int) -> Message | None:
    """The lead's oldest inbound message whose turn has not been committed (arrival order)."""
    return session.scalar(
        select(Message)
        .where(Message.lead_id == lead_id, Message.direction == "inbound", Message.processed_at.is_(None))
        .order_by(Message.id)
        .limit(1)
    )


def leads_for_number(session: Session, *, phone: str) -> list[Lead]:
    """Every lead (any channel) with this E.164 number."""
    return list(session.scalars(select(Lead).where(Lead.phone == phone)))
