"""Twilio webhooks: inbound messages and status callbacks.

The inbound webhook stores the message and enqueues the turn, then answers at once with
empty TwiML; the conversation runs in a job. Twilio retries deliveries it thinks failed;
the MessageSid's unique key makes a retry a no-op.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError
from twilio.twiml.messaging_response import MessagingResponse

from bot.twilio.client import OPTED_OUT
from bot.twilio.payload import InboundMessage, StatusCallback
from bot.twilio.signature import twilio_signed
from store import consent, sends, touches
from store.addresses import phone_of
from store.inbound import store_inbound
from store.models import utcnow

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

SUPPRESSING_ERRORS = frozenset({OPTED_OUT, 63014})
"""Status-callback error codes meaning the recipient blocked us: 21610 (unsubscribed), 63014 (WhatsApp block)."""


def empty_twiml() -> Response:
    """``<Response/>``: Twilio sends nothing itself; replies go out through the REST API."""
    return Response(str(MessagingResponse()), mimetype="text/xml")


def validation_error(exc: ValidationError) -> tuple[Response, int]:
    """422 naming each bad field by its Twilio parameter name."""
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    return jsonify({"error": "invalid webhook payload", "fields": errors}), 422


@bp.post("/messages")
@twilio_signed
def inbound() -> Response | tuple[Response, int]:
    """Inbound SMS/WhatsApp message → stored, turn enqueued, empty TwiML."""
    try:
        message = InboundMessage.from_form(request.form)
    except ValidationError as exc:
        return validation_error(exc)
    rt = current_app.extensions["leadline"]
    business_id = rt.directory.route(to_address=message.to_address, messaging_service_sid=message.messaging_service_sid)
    if business_id is None:  # a number no business owns (released, or not synced yet): nothing is kept of it
        log.warning("message %s to %s: no business owns that number; not stored", message.message_sid,
                    message.to_address)  # logs mask numbers (bot.logs.MaskingFormatter)
        return empty_twiml()
    with rt.sessions.begin() as session:
        message_id = store_inbound(
            session, business_id=business_id, from_address=message.address, to_address=message.to_address,
                message_sid=message.message_sid,
            body=message.body, profile_name=message.profile_name,
            media={"urls": message.media_urls, "types": message.media_types} if message.num_media else None,
            received_at=utcnow(), tapped=message.tapped)
    if message_id is not None:  # None: a MessageSid already stored (Twilio retrying)
        try:
            rt.jobs.turns(message_id, message.address)
        except Exception:  # stored is safe: the reconciler enqueues it once Redis is back
            log.exception("could not enqueue the turn for message %s; the reconciler will", message_id)
    return empty_twiml()


@bp.post("/status")
@twilio_signed
def status() -> tuple[Response, int] | tuple[str, int]:
    """Status callback: the message's status moves forward only; 21610/63014 opt the number out."""
    try:
        callback = StatusCallback.model_validate(dict(request.form.items()))
    except ValidationError as exc:
        return validation_error(exc)
    sid, new_status, code = callback.message_sid, callback.message_status, callback.error_code
    rt = current_app.extensions["leadline"]
    with rt.sessions.begin() as session:
        sends.record_status(session, twilio_sid=sid, status=new_status, error_code=code)
        touches.record_status_outcome(session, twilio_sid=sid, status=new_status, error_code=code)
        if code in SUPPRESSING_ERRORS and (sent := sends.recipient(session, twilio_sid=sid)) is not None:
            consent.opt_out(session, business_id=sent[0], phone=phone_of(sent[1]), keyword=None, source="carrier",
                            text=f"Twilio error {code} on a status callback")
    return "", 204
