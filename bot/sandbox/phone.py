"""The prospect's phone: ``POST /sandbox/inbound`` delivers a message to the app as Twilio would.

The message is recorded as Twilio records an inbound one (an SMS STOP or START moves the number
on or off Twilio's opt-out list; a WhatsApp message opens the 24-hour window), then posted to
the app's webhook (``app.config["WEBHOOK_URL"]``) as a signed form with Twilio's fields.

A WhatsApp tap is played with ``ButtonPayload`` (and ``ButtonText``) for a quick-reply button, or ``ListId`` (and
``ListTitle``) for a list-picker item: posted on as Twilio posts a tap, with the tapped title as ``Body`` unless one is
given and ``MessageType`` ``button`` or ``interactive`` (``text`` for a typed WhatsApp message)
(https://www.twilio.com/docs/whatsapp/buttons, https://www.twilio.com/docs/content/twiliolist-picker).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot.conversation.keywords import classify
from bot.sandbox.context import current
from bot.sandbox.messages import segments
from bot.sandbox.state import SandboxState, new_sid

bp = Blueprint("sandbox_phone", __name__)


@bp.post("/sandbox/inbound")
def inbound() -> Any:
    """Play the prospect: deliver a message to the webhook as Twilio would (signed)."""
    target = current_app.config["WEBHOOK_URL"]
    if not target:
        return jsonify({"error": "the sandbox has no webhook_url"}), 409
    sender, to = request.form.get("From", ""), request.form.get("To", "")
    if not sender or not to:
        return jsonify({"error": "From and To are required"}), 422
    tap = _tap(request.form) if sender.startswith("whatsapp:") else {}
    body = request.form.get("Body") or tap.get("ButtonText") or tap.get("ListTitle") or ""
    ctx = current()
    sid = request.form.get("MessageSid") or new_sid("SM")
    _receive(ctx.state, sid=sid, sender=sender, to=to, body=body)
    params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": ctx.account_sid,
              "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": str(segments(body)),
              "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    if sender.startswith("whatsapp:"):
        params["WaId"] = sender.removeprefix("whatsapp:").lstrip("+")
        if request.form.get("ProfileName"):
            params["ProfileName"] = request.form["ProfileName"]
        params |= tap
    status = ctx.callbacks.post(target, params)
    return jsonify({"sid": sid, "webhook_status": status})


def _tap(form: Any) -> dict[str, str]:
    """The tap fields Twilio adds to a WhatsApp message, with its ``MessageType``."""
    if form.get("ButtonPayload"):
        fields = {"ButtonPayload": form["ButtonPayload"], "ButtonText": form.get("ButtonText") or form.get("Body", "")}
        return {**fields, "MessageType": "button"}
    if form.get("ListId"):
        fields = {"ListId": form["ListId"], "ListTitle": form.get("ListTitle") or form.get("Body", "")}
        return {**fields, "MessageType": "interactive"}
    return {"MessageType": "text"}


def _receive(state: SandboxState, *, sid: str, sender: str, to: str, body: str) -> None:
    """Record an inbound message (once per SID) and what it means for the sender's number at Twilio."""
    number = sender.removeprefix("whatsapp:")
    with state.lock:
        keyword = classify(body)
        if not sender.startswith("whatsapp:"):  # Advanced Opt-Out is an SMS feature
            if keyword == "opt_out":
                state.opted_out.add((number, to))
            elif keyword == "opt_in":
                state.opted_out -= {(number, to), (number, "*")}
        else:
            state.whatsapp_last_inbound[number] = state.now()
        state.messages.setdefault(sid, {
            "sid": sid, "to": to, "from": sender, "body": body, "direction": "inbound", "status": "received",
            "created": state.now(), "updated": state.now(), "sent": state.now(),
        })
