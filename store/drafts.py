"""Model drafts waiting for a rep's approval, and the approval requests texted about them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Lead, Message
from store.outbox import AWAITING_APPROVAL


def pending_draft(session: Session, *, business_id: int, lead_id: int | None = None,
                  owner: str | None = None) -> Message | None:
    """The business's newest draft awaiting approval: of lead ``lead_id``, or of any lead ``owner`` owns (a rep's
    name means something only within one business)."""
    query = select(Message).join(Lead, Lead.id == Message.lead_id).where(Message.outbox_state == AWAITING_APPROVAL,
                                                                         Lead.business_id == business_id)
    if lead_id is not None:
        query = query.where(Message.lead_id == lead_id)
    if owner is not None:
        query = query.where(Lead.owner == owner)
    return session.scalars(query.order_by(Message.id.desc()).limit(1)).first()


def unsent_approval_requests(session: Session, *, draft_id: int) -> list[int]:
    """Outbox ids of the approval requests about draft ``draft_id`` still pending (``rep:…:draft:<id>`` keys)."""
    return list(session.scalars(select(Message.id).where(Message.dedupe_key.like(f"rep:%:draft:{draft_id}"),
                                                         Message.outbox_state == "pending")))
