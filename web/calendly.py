"""``POST /webhooks/calendly``: a booking made or cancelled through the lead's booking link.

Calendly signs each delivery: ``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>``
where ``v1`` is HMAC-SHA256 over ``"<t>.<raw body>"`` with the subscription's signing
key (https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures).
A wrong signature, or one older than 3 minutes (replay), gets 403.

The lead is found by the ``utm_content=lead-<id>`` the booking link carried, else by the
invitee's phone (``text_reminder_number`` or an answer that is a phone number), else by
email (the whole address, any case); a field of an unexpected shape counts as absent.
``invitee.created`` marks it booked and stops its cadence (stop ``booked``); ``invitee.canceled``
reopens it, except when Calendly says it was rescheduled (a new ``invitee.created`` follows).
A delivery that matches no lead is answered 200 and logged (by the invitee's URI, never the
email), so Calendly does not retry it for days.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from typing import Any, NamedTuple

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.orm import Session

from bot.reps import actions as lead_actions
from bot.reps.actions import Actor
from graph.playbook import to_e164
from runtime.businesses import calendly_signing_key
from store.bounds import row_id, unix_seconds
from store.leads import newest_lead_with_email, newest_lead_with_phone
from store.models import Lead
from store.tenancy import DEFAULT_BUSINESS_ID

log = logging.getLogger(__name__)
bp = Blueprint("calendly", __name__)

TOLERANCE_S = 180
"""Oldest signature timestamp accepted, seconds (Calendly's guidance against replays)."""
LEAD_REF = re.compile(r"lead-([0-9]+)")
"""``utm_content`` of a booking link: ``lead-<id>`` (ASCII digits; the id is bounded by :func:`store.bounds.row_id`)."""
_SIGNATURE_PART = re.compile(r"(t|v1)=([^,]*)")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class Signature(NamedTuple):
    """A parsed ``Calendly-Webhook-Signature``."""

    seconds: int
    """``t`` as a number: when Calendly signed, Unix seconds."""
    stamp: str
    """``t`` as sent: the signed text is ``"<stamp>.<raw body>"``."""
    v1: str
    """The HMAC-SHA256, lowercase hex."""


def parse_signature(header: str) -> Signature | None:
    """``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`` as a :class:`Signature`, or None.

    Strict, as the header is the first thing an unsigned caller controls: exactly one ``t`` (ASCII digits, a
    Unix time within :func:`store.bounds.unix_seconds`) and one ``v1`` (64 hex digits: an HMAC-SHA256),
    comma-separated, nothing else (https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures).
    """
    parts = header.split(",")
    if len(parts) != 2:
        return None
    fields = {m[1]: m[2] for part in parts if (m := _SIGNATURE_PART.fullmatch(part.strip()))}
    if set(fields) != {"t", "v1"} or not _HEX_SHA256.fullmatch(fields["v1"]):
        return None
    try:
        return Signature(unix_seconds(fields["t"]), fields["t"], fields["v1"].lower())
    except ValueError:
        return None


def signature_valid(header: str, body: bytes, key: str, *, now: float | None = None) -> bool:
    """Whether ``header`` (``t=…,v1=…``, see :func:`parse_signature`) signs ``body`` with ``key`` and is at most
    :data:`TOLERANCE_S` seconds old. Never raises: any header that is not exactly that shape is False."""
    signature = parse_signature(header)
    if signature is None:
        return False
    if abs((now if now is not None else time.time()) - signature.seconds) > TOLERANCE_S:
        return False
    expected = hmac.new(key.encode(), signature.stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.v1)


@bp.post("/webhooks/calendly")
@bp.post("/webhooks/calendly/<slug>")
def calendly(slug: str | None = None) -> tuple[Any, int]:
    """Take ``invitee.created`` / ``invitee.canceled`` for the business of ``slug`` (the path a one-business
    deployment gives Calendly has none); 404 for no such business, 403 on a bad signature, 422 on a bad payload."""
    rt = current_app.extensions["leadline"]
    business_id = DEFAULT_BUSINESS_ID if slug is None and rt.directory.single else rt.directory.by_slug(slug)
    if business_id is None:
        return jsonify({"error": "no such business"}), 404
    rt = rt.for_business(business_id)
    key = calendly_signing_key(rt.settings, rt.business)
    header = request.headers.get("Calendly-Webhook-Signature", "")
    body = request.get_data(cache=True)
    if key is None or not signature_valid(header, body, key):
        return jsonify({"error": "invalid or expired Calendly-Webhook-Signature"}), 403
    event = request.get_json(silent=True)
    if not isinstance(event, dict) or not isinstance(event.get("payload"), dict):
        return jsonify({"error": "invalid event", "fields": [{"field": "payload", "message": "expected an object"}]}), 422
    kind, invitee = event.get("event"), event["payload"]
    if kind not in ("invitee.created", "invitee.canceled"):
        return jsonify({"ignored": kind if isinstance(kind, str) else None}), 200
    booking_key, rescheduled = booking_key_of(invitee, body), invitee.get("rescheduled") is True
    detail = {k: v for k, v in {
        "start_time": _text(_object(invitee.get("scheduled_event")).get("start_time")),
        "invitee": booking_key, "rescheduled": rescheduled or None,
    }.items() if v}
    with rt.sessions.begin() as session:
        lead = match_lead(session, invitee, business_id=business_id)
        if lead is None:
            log.warning("Calendly %s matched no lead (invitee %s)", kind, booking_key)
            return jsonify({"event": kind, "lead_id": None}), 200
        lead_id = lead.id
        actor = Actor("calendly")
        if kind == "invitee.created":
            queued = lead_actions.mark_booked(session, rt, lead, by=actor, key=booking_key, detail=detail)
        elif rescheduled:
            queued = lead_actions.AfterCommit()  # the new booking's invitee.created follows
        else:
            queued = lead_actions.cancel_booking(session, rt, lead, by=actor, key=booking_key, detail=detail)
        status = lead.status
    rt.jobs.after_commit(outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
    return jsonify({"event": kind, "lead_id": lead_id, "status": status}), 200


def booking_key_of(invitee: dict[str, Any], body: bytes) -> str:
    """What identifies this booking in the lead's activity, the rep's notification key and the logs (at most
    96 characters): Calendly's invitee ``uri``, else its ``cancel_url``, else a digest of the delivery.

    Never the invitee's email: the key is logged and stored where an email must not be. The digest is the same
    for a retry of the same delivery (Calendly resends the same body), so a retry stays harmless.
    """
    for field in ("uri", "cancel_url"):
        if value := _text(invitee.get(field)):
            return value[-96:]
    return "delivery-sha256:" + hashlib.sha256(body).hexdigest()[:32]


def match_lead(session: Session, invitee: dict[str, Any], *, business_id: int) -> Lead | None:
    """The business's lead a Calendly invitee is: by ``utm_content`` lead reference, then phone, then email; never
    another business's, whatever the invitee carries.

    Fields of an unexpected shape (``tracking`` a list, a lead id past :data:`store.bounds.MAX_ID`) are taken as
    absent. The email is compared whole and case-insensitively (``lower(email) = lower(:email)``, the same on
    SQLite and Postgres): no ``LIKE``, whose ``_`` and ``%`` would match other people's addresses.
    """
    lead_id = _lead_ref(_text(_object(invitee.get("tracking")).get("utm_content")))
    if lead_id is not None and (lead := session.get(Lead, lead_id)) is not None and lead.business_id == business_id:
        return lead
    for phone in _phones(invitee):
        lead = newest_lead_with_phone(session, business_id=business_id, phone=phone)
        if lead is not None:
            return lead
    email = (_text(invitee.get("email")) or "").strip()
    if email:
        return newest_lead_with_email(session, business_id=business_id, email=email)
    return None


def _lead_ref(utm_content: str | None) -> int | None:
    ref = LEAD_REF.fullmatch(utm_content or "")
    try:
        return row_id(ref.group(1)) if ref else None
    except ValueError:  # lead-<more digits than any id>: no such lead
        return None


def _phones(invitee: dict[str, Any]) -> list[str]:
    answers = invitee.get("questions_and_answers")
    candidates = [invitee.get("text_reminder_number")]
    candidates += [_object(qa).get("answer") for qa in (answers if isinstance(answers, list) else [])]
    phones = []
    for value in candidates:
        if not (text := _text(value)):
            continue
        try:
            phones.append(to_e164(text))
        except ValueError:
            continue
    return phones


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a field of the wrong shape counts as absent)."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """``value`` if it is a non-empty JSON string, else None."""
    return value if isinstance(value, str) and value else None
