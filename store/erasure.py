"""Erasing a number: every row that holds it or belongs to its leads goes; only a hashed opt-out stays.

Source of the duty: the right to erasure (GDPR art. 17, CCPA § 1798.105). The suppression
entry is kept (a SHA-256 of the number, no other data) so a number that opted out stays
opted out: forgetting it would let the business text it again (TCPA).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, delete, or_, select, true
from sqlalchemy.orm import Session

from store.addresses import every_address
from store.db import affected_rows
from store.models import Activity, CaptureEvent, ConsentRecord, Lead, LlmCall, Message, Touch


@dataclass
class Erased:
    """What an erasure removed (ids, for the jobs and checkpoints to remove next)."""

    lead_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    touch_ids: list[int] = field(default_factory=list)
    consent_records: int = 0
    conversations: list[tuple[int, str]] = field(default_factory=list)
    """``(business id, channel)`` of each erased lead: whose checkpointer threads go too."""


def erase_number(session: Session, *, phone: str, business_id: int | None) -> Erased:
    """Delete the number's leads and everything of theirs, its messages (either direction, any channel,
    attached to a lead or not), consent records and model-call records. ``phone`` is E.164.

    ``business_id`` limits it to one business (an owner's request); None erases it from every business (a data
    subject's request to the agency, GDPR art. 17)."""
    addresses = every_address(phone)

    def mine(model: type[Lead] | type[Message] | type[ConsentRecord]) -> ColumnElement[bool]:
        return true() if business_id is None else model.business_id == business_id

    leads = list(session.execute(select(Lead.id, Lead.business_id, Lead.channel).where(Lead.phone == phone, mine(Lead))))
    lead_ids = [row[0] for row in leads]
    touch_ids = list(session.scalars(select(Touch.id).where(Touch.lead_id.in_(lead_ids)))) if lead_ids else []
    message_ids = list(session.scalars(select(Message.id).where(mine(Message), or_(
        Message.lead_id.in_(lead_ids), Message.from_address.in_(addresses), Message.to_address.in_(addresses)))))
    consents = affected_rows(session, delete(ConsentRecord).where(mine(ConsentRecord), or_(
        ConsentRecord.phone == phone, ConsentRecord.lead_id.in_(lead_ids))))
    if lead_ids:
        session.execute(delete(LlmCall).where(LlmCall.lead_id.in_(lead_ids)))
        session.execute(delete(Touch).where(Touch.lead_id.in_(lead_ids)))
        session.execute(delete(Activity).where(Activity.lead_id.in_(lead_ids)))
        session.execute(delete(CaptureEvent).where(CaptureEvent.lead_id.in_(lead_ids)))
    if message_ids:
        session.execute(delete(Message).where(Message.id.in_(message_ids)))
    if lead_ids:
        session.execute(delete(Lead).where(Lead.id.in_(lead_ids)))
    return Erased(lead_ids=lead_ids, message_ids=message_ids, touch_ids=touch_ids, consent_records=consents,
                  conversations=sorted({(row[1], row[2]) for row in leads}))
