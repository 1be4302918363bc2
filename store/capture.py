"""Lead capture from any source (form, ad, CRM): the seeds' capture event, idempotent.

A capture is keyed by ``event_id`` (the same event twice is one capture) and by the
phone: a capture for a number that already has an open lead is recorded as a duplicate
(stop ``duplicate``) and never messaged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.leads import add_activity, set_status
from store.models import CaptureEvent, Lead, Touch
from store.suppression import is_suppressed
from store.touches import cancel_owed

OPEN_STATUSES = ("new", "contacted", "qualified")
"""A lead in one of these is in play: another capture for its phone is a duplicate."""

CaptureResult = Literal["created", "reopened", "duplicate", "already_received", "opted_out"]


@dataclass(frozen=True)
class Captured:
    """What a capture did: ``created``/``reopened`` leads get a first touch; the others do not."""

    lead_id: int
    capture_id: int
    outcome: CaptureResult

    @property
    def starts_conversation(self) -> bool:
        return self.outcome in ("created", "reopened")


def capture_lead(
    session: Session, *, business_id: int, playbook_version_id: int | None, event_id: str, source: str, received_at: datetime,
        channel: str, phone: str,
    service_type: str | None, urgency: str | None, contact_method: str, name: str | None, email: str | None,
    timezone: str,
) -> Captured:
    """Record a capture event of business ``business_id`` and create (on playbook version ``playbook_version_id``),
    reopen or leave alone the lead it is for. ``event_id`` is idempotent per business.

    ``phone`` is E.164, ``received_at`` UTC, ``timezone`` the lead's IANA zone.
    """
    seen = session.scalar(select(CaptureEvent).where(CaptureEvent.business_id == business_id,
                                                     CaptureEvent.event_id == event_id))
    if seen is not None:
        return Captured(lead_id=seen.lead_id, capture_id=seen.id, outcome="already_received")
    lead = session.scalar(select(Lead).where(Lead.business_id == business_id, Lead.channel == channel,
                                             Lead.phone == phone))
    outcome: CaptureResult
    if lead is None:
        lead = Lead(business_id=business_id, channel=channel, phone=phone, profile_name=name, email=email,
                    source=source, status="new", created_at=received_at, answers={}, timezone=timezone,
                    playbook_version_id=playbook_version_id)
        session.add(lead)
        session.flush()
        outcome = "created"
    elif lead.status in OPEN_STATUSES:
        outcome = "duplicate"
    elif lead.status == "opted_out":
        outcome = "opted_out"
    else:
        _reopen(session, lead, source=source)
        outcome = "reopened"
    if outcome != "duplicate":
        lead.profile_name = name or lead.profile_name
        lead.email = email or lead.email
    if is_suppressed(session, business_id=business_id, address=phone) and outcome != "duplicate":
        if lead.status != "opted_out":
            set_status(session, lead=lead, status="opted_out", lost_reason="opted_out")
        outcome = "opted_out"
    capture = CaptureEvent(business_id=business_id, event_id=event_id, lead_id=lead.id, source=source, received_at=received_at,
                           channel=channel,
                           service_type=service_type, urgency=urgency, contact_method=contact_method,
                           duplicate=outcome == "duplicate")
    session.add(capture)
    session.flush()
    add_activity(session, lead_id=lead.id, kind="capture", event_id=event_id, source=source, outcome=outcome,
                 **({"stop": "duplicate"} if outcome == "duplicate" else {}))
    return Captured(lead_id=lead.id, capture_id=capture.id, outcome=outcome)


def _reopen(session: Session, lead: Lead, *, source: str) -> None:
    """A closed or dormant lead captured again starts over: fresh answers, score and cadence."""
    cancel_owed(session, lead_id=lead.id)
    session.execute(delete(Touch).where(Touch.lead_id == lead.id))  # the timeline keeps what was sent
    set_status(session, lead=lead, status="new")
    lead.source, lead.answers, lead.lost_reason, lead.stop_reason, lead.enrolled_at = source, {}, None, None, None
    lead.score_total = lead.score_fit = lead.score_intent = lead.score_engagement = None
    lead.score_breakdown = lead.grade = lead.estimated_value_usd = lead.call_alert_at = None
