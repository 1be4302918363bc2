"""Leads: creation from inbound contact, status changes and the timeline.

Functions take the session first and everything else by keyword; callers own the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from store.addresses import channel_of, phone_of
from store.models import LEAD_STATUSES, Activity, CaptureEvent, Lead, Message, Touch, utcnow

CLOSED_STATUSES = ("disqualified", "booked", "won", "lost", "opted_out")


def add_activity(session: Session, *, lead_id: int, kind: str, **data: Any) -> None:
    """Append an entry to the lead's timeline (and move the lead's ``last_activity_at``)."""
    now = utcnow()
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise LookupError(f"no lead {lead_id}")
    session.add(Activity(business_id=lead.business_id, lead_id=lead_id, kind=kind, data=data, created_at=now))
    lead.last_activity_at = now


def who_acts_next(lead: Lead) -> str:
    """Who has the lead's next action as it stands (``Lead.next_action_by``, one of ``store.models.NEXT_ACTION_BY``)."""
    if lead.status in CLOSED_STATUSES:
        return "closed"
    if lead.taken_over_by:
        return "rep"
    if lead.status == "qualified":
        return "reps"
    if lead.status == "dormant":
        return "nurture"
    return "bot"


def assign(session: Session, *, lead: Lead, owner: str, dispatcher: str) -> bool:
    """Make ``owner`` (a rep's name) own the lead's next action; False when nothing changed.

    ``dispatcher`` says who decided: ``round_robin``, ``rule:<question id>`` or ``rep:<name>``.
    """
    if lead.owner == owner and lead.dispatcher == dispatcher:
        return False
    add_activity(session, lead_id=lead.id, kind="assigned", owner=owner, dispatcher=dispatcher,
                 **({"previous": lead.owner} if lead.owner and lead.owner != owner else {}))
    lead.owner, lead.dispatcher, lead.assigned_at = owner, dispatcher, utcnow()
    return True


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
    now = utcnow()
    if status == "qualified" and lead.qualified_at is None:
        lead.qualified_at = now
    if status == "booked":
        lead.booked_at = now
    if status in CLOSED_STATUSES:
        lead.taken_over_by = None
    if status not in ("lost", "disqualified", "opted_out") and lost_reason is None:
        lead.lost_reason = None
    lead.next_action_by = who_acts_next(lead)
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


def attach_to_lead(session: Session, message: Message, *, playbook_version_id: int | None) -> Lead:
    """The lead of an inbound message in the message's business, created on first contact (on playbook version
    ``playbook_version_id``, the business's current); the message joins its timeline.

    First contact also records the capture event (the seeds' capture contract: event_id,
    source, received_at, channel, contact_method). Runs in the conversation's job, which
    RQ serialises per sender, so one sender's lead is never created twice; the unique
    (business, channel, phone) key backs that up.
    """
    if message.from_address is None:  # inbound rows always have one (store.inbound.store_inbound)
        raise ValueError(f"message {message.id} has no sender: not an inbound message")
    channel, phone = channel_of(message.from_address), phone_of(message.from_address)
    lead = lead_for_address(session, business_id=message.business_id, channel=channel, phone=phone)
    if lead is None:
        lead = Lead(business_id=message.business_id, channel=channel, phone=phone, profile_name=message.sender_name,
                    source=f"inbound_{channel}", status="new", business_address=message.to_address,
                    created_at=message.created_at, answers={}, playbook_version_id=playbook_version_id)
        session.add(lead)
        session.flush()
        session.add(CaptureEvent(business_id=lead.business_id, event_id=message.twilio_sid, lead_id=lead.id,
                                 source=lead.source,
                                 received_at=message.created_at, channel=channel, contact_method=channel))
        add_activity(session, lead_id=lead.id, kind="capture", event_id=message.twilio_sid, source=lead.source)
    if message.sender_name:
        lead.profile_name = message.sender_name
    lead.last_inbound_at = message.created_at
    lead.business_address = message.to_address
    message.lead_id = lead.id
    add_activity(session, lead_id=lead.id, kind="message", direction="inbound", message_id=message.id)
    return lead


def lead_for_address(session: Session, *, business_id: int, channel: str, phone: str) -> Lead | None:
    """The business's lead of a (channel, E.164 phone) conversation, or None before first contact."""
    return session.scalar(select(Lead).where(Lead.business_id == business_id, Lead.channel == channel,
                                             Lead.phone == phone))


def lead_scope(session: Session, *, lead_id: int | None = None, touch_id: int | None = None) -> tuple[int, int | None] | None:
    """``(business id, playbook version id)`` of lead ``lead_id``, or of touch ``touch_id``'s lead; None when gone."""
    query = select(Lead.business_id, Lead.playbook_version_id)
    query = query.where(Lead.id == lead_id) if touch_id is None else query.join(Touch, Touch.lead_id == Lead.id).where(
        Touch.id == touch_id)
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


def mark_processed(session: Session, *, message_id: int) -> None:
    """Mark an inbound message's turn as committed."""
    session.execute(update(Message).where(Message.id == message_id).values(processed_at=utcnow()))


def leads_for_number(session: Session, *, business_id: int, phone: str) -> list[Lead]:
    """Every lead of the business (any channel) with this E.164 number."""
    return list(session.scalars(select(Lead).where(Lead.business_id == business_id, Lead.phone == phone)))


def conversation(session: Session, *, lead_id: int, kinds: tuple[str, ...], last: int | None = None) -> list[tuple[str, str]]:
    """The lead's messages of ``kinds`` as ``(direction, body)``, oldest first; only the ``last`` ones when given.
    Messages without text are left out."""
    query = select(Message.direction, Message.body).where(Message.lead_id == lead_id, Message.kind.in_(kinds))
    if last is not None:
        rows = list(session.execute(query.order_by(Message.id.desc()).limit(last)))[::-1]
    else:
        rows = list(session.execute(query.order_by(Message.id)))
    return [(row.direction, row.body) for row in rows if row.body]


def has_activity(session: Session, *, lead_id: int, kind: str) -> bool:
    """Whether the lead's timeline has an entry of ``kind`` (e.g. ``crm_note``)."""
    return session.scalar(select(Activity.id).where(Activity.lead_id == lead_id, Activity.kind == kind).limit(1)) is not None


def leads_by_id(session: Session, *, lead_ids: set[int]) -> dict[int, Lead]:
    """The leads ``lead_ids``, by id (ids not found are left out)."""
    return {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))}


def stalled_leads(session: Session, *, heard_before: datetime, lead_ids: list[int] | None = None,
                  limit: int = 1000) -> list[Lead]:
    """Leads silent mid-qualification since before ``heard_before`` (UTC) and not enrolled since: new or
    contacted, not yet scored, no rep has the conversation, cadence not stopped for good. A lead that replied
    after an earlier enrolment and went quiet again counts again. Only ``lead_ids`` when given; the longest silent first."""
    last_heard = func.coalesce(Lead.last_inbound_at, Lead.created_at)
    query = select(Lead).where(
        Lead.status.in_(("new", "contacted")), Lead.score_total.is_(None), Lead.taken_over_by.is_(None),
        or_(Lead.stop_reason.is_(None), Lead.stop_reason == "replied"),
        or_(Lead.enrolled_at.is_(None), Lead.enrolled_at < last_heard),
        last_heard <= heard_before,
    )
    if lead_ids is not None:
        query = query.where(Lead.id.in_(lead_ids))
    return list(session.scalars(query.order_by(last_heard, Lead.id).limit(limit)))


def newest_lead_with_phone(session: Session, *, business_id: int, phone: str) -> Lead | None:
    """The business's newest lead with E.164 ``phone`` on any channel."""
    return session.scalar(select(Lead).where(Lead.business_id == business_id, Lead.phone == phone)
                          .order_by(Lead.id.desc()).limit(1))


def newest_lead_with_email(session: Session, *, business_id: int, email: str) -> Lead | None:
    """The business's newest lead whose email is ``email``, compared whole and case-insensitively (``lower(email) =
    lower(:email)``, the same on SQLite and Postgres): no ``LIKE``, whose ``_`` and ``%`` would match others."""
    return session.scalar(select(Lead).where(Lead.business_id == business_id, func.lower(Lead.email) == func.lower(email))
                          .order_by(Lead.id.desc()).limit(1))


def first_capture(session: Session, *, lead_id: int) -> CaptureEvent | None:
    """The lead's first capture event, if any."""
    return session.scalar(select(CaptureEvent).where(CaptureEvent.lead_id == lead_id).order_by(CaptureEvent.id).limit(1))


def last_captured_at(session: Session, *, lead_id: int) -> datetime | None:
    """When the lead was last captured: its newest non-duplicate capture event's ``received_at`` (UTC)."""
    return session.scalar(select(CaptureEvent.received_at).where(
        CaptureEvent.lead_id == lead_id, CaptureEvent.duplicate.is_(False)).order_by(CaptureEvent.id.desc()).limit(1))


def wrong_number_asked(session: Session, *, lead_id: int, before_message_id: int) -> bool:
    """Whether the lead's inbound message just before ``before_message_id`` got our wrong-number question (an
    ``intent`` activity ``wrong_number_check`` for it), so this message answers that question."""
    previous = session.scalar(select(func.max(Message.id)).where(
        Message.lead_id == lead_id, Message.direction == "inbound", Message.id < before_message_id))
    if previous is None:
        return False
    recent = session.scalars(select(Activity.data).where(Activity.lead_id == lead_id, Activity.kind == "intent")
                             .order_by(Activity.id.desc()).limit(5))
    return any(data.get("intent") == "wrong_number_check" and data.get("message_id") == previous for data in recent)
