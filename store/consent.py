"""Consent: opt-out and opt-in applied to every lead and pending send of a number, and the
append-only record of each consent given or revoked (``ConsentRecord``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from store.addresses import every_address
from store.leads import leads_for_number, set_status, status_before_opt_out
from store.models import ConsentRecord
from store.outbox import cancel_pending
from store.suppression import suppress, unsuppress
from store.touches import cancel_owed


def record(session: Session, *, business_id: int, phone: str, channel: str, event: str, source: str, text: str,
           lead_id: int | None = None) -> None:
    """Append a consent event (``granted`` or ``revoked``) given to business ``business_id``, with the exact words
    behind it; never updates one.

    Raises:
        ValueError: ``event`` is neither ``granted`` nor ``revoked``.
    """
    if event not in ("granted", "revoked"):
        raise ValueError(f"unknown consent event {event!r}")
    session.add(ConsentRecord(business_id=business_id, phone=phone, lead_id=lead_id, channel=channel, event=event,
                source=source[:64],
                              text=text or ""))


def opt_out(session: Session, *, business_id: int, phone: str, keyword: str | None, source: str = "keyword",
            text: str | None = None) -> int:
    """STOP to business ``business_id``: suppress the number for it, mark its leads there ``opted_out``, stop their
    cadence and cancel its pending sends. Other businesses are not affected: TCPA and the carriers treat an
    opt-out per sender (CTIA Messaging Principles), and so does STOPALL, which reaches only the sender it went to.

    Applies to SMS and WhatsApp alike; the revocation is recorded with ``text`` (the prospect's
    exact words) and ``source`` (``keyword``, ``words``, ``carrier``). Returns how many pending
    sends were cancelled.
    """
    record(session, business_id=business_id, phone=phone, channel="any", event="revoked", source=source,
           text=text or keyword or "")
    suppress(session, business_id=business_id, address=phone, keyword=keyword)
    cancelled = cancel_pending(session, business_id=business_id, to_addresses=every_address(phone), reason="opted_out")
    for lead in leads_for_number(session, business_id=business_id, phone=phone):
        set_status(session, lead=lead, status="opted_out", lost_reason="opted_out")
        if cancel_owed(session, lead_id=lead.id) or lead.enrolled_at is not None:
            lead.stop_reason = "opted_out"  # the seeds' stop condition
    return cancelled


def opt_in(session: Session, *, business_id: int, phone: str, text: str = "START") -> bool:
    """START/UNSTOP/YES to business ``business_id`` after an opt-out of it: lift the suppression, restore each of
    its leads' prior status, record it.

    Returns False when the number was not opted out (nothing changes).
    """
    if not unsuppress(session, business_id=business_id, address=phone):
        return False
    record(session, business_id=business_id, phone=phone, channel="any", event="granted", source="keyword", text=text)
    for lead in leads_for_number(session, business_id=business_id, phone=phone):
        if lead.status == "opted_out":
            set_status(session, lead=lead, status=status_before_opt_out(session, lead_id=lead.id))
            if lead.lost_reason == "opted_out":
                lead.lost_reason = None
    return True
