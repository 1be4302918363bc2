"""``POST /webhooks/calendly``: a booking made or cancelled through the lead's booking link.

Calendly signs each delivery: ``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>``
where ``v1`` is HMAC-SHA256 over ``"<t>.<raw body>"`` with the subscription's signing
key (https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures).
A wrong signature, or one older than 3 minutes (replay), gets 403.

The lead is found by the ``utm_content=lead-<id>`` the booking link carried, else by the
invitee's phone (``text_reminder_number`` or an answer that is a phone number), else by
email. ``invitee.created`` marks it booked and stops its cadence (stop ``booked``);
``invitee.canceled`` reopens it, except when Calendly says it was rescheduled (a new
``invitee.created`` follows). A delivery that matches no lead is answered 200 and
logged, so Calendly does not retry it for days.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from cadence import lead_actions
from cadence.jobs import enqueue_queued
from cadence.lead_actions import Actor
from graph.playbook import to_e164
from store.models import Lead

log = logging.getLogger(__name__)
bp = Blueprint("calendly", __name__)

TOLERANCE_S = 180
"""Oldest signature timestamp accepted, seconds (Calendly's guidance against replays)."""
LEAD_REF = re.compile(r"^lead-(\d+)$")


def signature_valid(header: str, body: bytes, key: str, *, now: float | None = None) -> bool:
    """Whether ``header`` (``t=…,v1=…``) signs ``body`` with ``key`` and is at most 3 minutes old."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > TOLERANCE_S:
        return False
    expected = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@bp.post("/webhooks/calendly")
def calendly() -> tuple[Any, int]:
    """Take ``invitee.created`` / ``invitee.canceled``; 403 on a bad signature, 422 on a bad payload."""
    rt = current_app.extensions["leadline"]
    key = rt.settings.calendly_signing_key
    header = request.headers.get("Calendly-Webhook-Signature", "")
    body = request.get_data(cache=True)
    if key is None or not signature_valid(header, body, key.get_secret_value()):
        return jsonify({"error": "invalid or expired Calendly-Webhook-Signature"}), 403
    event = request.get_json(silent=True)
    if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
        return jsonify({"error": "invalid event", "fields": [{"field": "payload", "message": "expected an object"}]}), 422
    kind, invitee = event.get("event"), event["payload"]
    if kind not in ("invitee.created", "invitee.canceled"):
        return jsonify({"ignored": kind}), 200
    booking_key = str(invitee.get("uri") or invitee.get("cancel_url") or invitee.get("email") or "")[-96:]
    detail = {k: v for k, v in {
        "start_time": (invitee.get("scheduled_event") or {}).get("start_time"),
        "invitee": booking_key, "rescheduled": invitee.get("rescheduled") or None,
    }.items() if v}
    with rt.sessions.begin() as session:
        lead = match_lead(session, invitee)
        if lead is None:
            log.warning("Calendly %s matched no lead (invitee %s)", kind, booking_key)
            return jsonify({"event": kind, "lead_id": None}), 200
        lead_id = lead.id
        actor = Actor("calendly")
        if kind == "invitee.created":
            queued = lead_actions.mark_booked(session, rt, lead, by=actor, key=booking_key, detail=detail)
        elif invitee.get("rescheduled"):
            queued = lead_actions.Queued()  # the new booking's invitee.created follows
        else:
            queued = lead_actions.cancel_booking(session, rt, lead, by=actor, key=booking_key, detail=detail)
        status = lead.status
    enqueue_queued(rt, outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
    return jsonify({"event": kind, "lead_id": lead_id, "status": status}), 200


def match_lead(session: Session, invitee: dict[str, Any]) -> Lead | None:
    """The lead a Calendly invitee is: by ``utm_content`` lead reference, then phone, then email."""
    tracking = invitee.get("tracking") or {}
    ref = LEAD_REF.match(str(tracking.get("utm_content") or ""))
    if ref:
        lead = session.get(Lead, int(ref.group(1)))
        if lead is not None:
            return lead
    for phone in _phones(invitee):
        lead = session.scalar(select(Lead).where(Lead.phone == phone).order_by(Lead.id.desc()).limit(1))
        if lead is not None:
            return lead
    email = str(invitee.get("email") or "").strip()
    if email:
        return session.scalar(select(Lead).where(Lead.email.ilike(email)).order_by(Lead.id.desc()).limit(1))
    return None


def _phones(invitee: dict[str, Any]) -> list[str]:
    candidates = [invitee.get("text_reminder_number")]
    candidates += [qa.get("answer") for qa in invitee.get("questions_and_answers") or [] if isinstance(qa, dict)]
    phones = []
    for value in candidates:
        try:
            phones.append(to_e164(str(value)))
        except (ValueError, TypeError):
            continue
    return phones
