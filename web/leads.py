"""``POST /leads``: capture a lead from a form, an ad or a CRM, and send its T+0 first touch.

Body (JSON): the seeds' capture event fields (``event_id``, ``source``, ``received_at``,
``channel``, ``service_type``, ``urgency``, ``contact_method``) plus ``phone``, ``name``,
``email``. Answers: 201 for a new or reopened lead, 200 for a repeat of the same
``event_id``, a duplicate of an open lead, or an opted-out number; 401 without the API
token; 422 naming each bad field.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.reps.assignment import route_new_lead
from cadence.clock import lead_timezone
from graph.playbook import to_e164
from store import consent
from store.addresses import address_for
from store.bounds import BoundedInstant
from store.capture import capture_lead
from store.models import Lead, utcnow
from web.auth import business_bearer

log = logging.getLogger(__name__)
bp = Blueprint("leads", __name__)


class LeadCapture(BaseModel):
    """A lead as a form, an ad platform or a CRM sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)
    received_at: BoundedInstant | None = None
    """When the lead was captured (ISO 8601 with a zone, 1970–2200, see ``store.bounds``); now when absent.
    Cadence days count from it."""
    channel: Literal["sms", "whatsapp"] = "sms"
    service_type: str | None = Field(default=None, max_length=64)
    urgency: str | None = Field(default=None, max_length=64)
    contact_method: Literal["sms", "whatsapp"] | None = None
    phone: str
    """A phone number (``+13035550142``, ``(303) 555-0142``); not a channel address such as ``whatsapp:+1…``,
    which ``channel`` says."""
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    consent_text: str | None = Field(default=None, max_length=2000)
    """The exact consent wording the prospect agreed to on the form (kept in the consent record)."""

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return to_e164(value)


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "phone", "message": "…"}]``."""
    return [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()]


@bp.post("/leads")
@business_bearer("leads")
def capture() -> tuple[Any, int]:
    """Capture a lead for the business whose token it is; the first touch goes out at once through the worker.
    403 for an agency token: a lead belongs to one business."""
    if g.business_id is None:
        return jsonify({"error": "an agency token cannot capture a lead: use the business's own token"}), 403
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "invalid lead", "fields": [{"field": "(body)", "message": "expected a JSON object"}]}), 422
    try:
        lead = LeadCapture.model_validate(payload)
    except ValidationError as exc:
        return jsonify({"error": "invalid lead", "fields": field_errors(exc)}), 422
    rt = current_app.extensions["leadline"].for_business(g.business_id)
    received_at: datetime = lead.received_at or utcnow()
    with rt.sessions.begin() as session:
        captured = capture_lead(
            session, business_id=rt.business.id, playbook_version_id=rt.business.version_id, event_id=lead.event_id,
                source=lead.source, received_at=received_at, channel=lead.channel,
            phone=lead.phone, service_type=lead.service_type, urgency=lead.urgency,
            contact_method=lead.contact_method or lead.channel, name=lead.name, email=lead.email,
            timezone=lead_timezone(lead.phone, rt.playbook.business.timezone))
        if captured.starts_conversation:
            route_new_lead(session, rt.playbook, session.get(Lead, captured.lead_id), captured_at=received_at)
        if captured.outcome != "already_received":
            consent.record(session, business_id=rt.business.id, phone=lead.phone, channel=lead.channel, event="granted",
                           source=lead.source,
                           text=lead.consent_text or f"(no consent text sent with the {lead.source} capture)",
                           lead_id=captured.lead_id)
    if captured.starts_conversation:
        address = address_for(lead.phone, lead.channel)
        try:
            rt.jobs.first_touch(lead_id=captured.lead_id, capture_id=captured.capture_id, address=address)
        except Exception:
            log.exception("could not enqueue the first touch for lead %s", captured.lead_id)
    status = 201 if captured.starts_conversation else 200
    return jsonify({"lead_id": captured.lead_id, "event_id": lead.event_id, "result": captured.outcome}), status
