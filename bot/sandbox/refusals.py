"""What Twilio refuses when a message is created, answered the way Twilio answers it.

A refused create is an error body (``code``, ``message``, ``more_info``, ``status``) that the
twilio client raises as ``TwilioRestException``:

* 21602 / 21603 / 21604 / 21617 / 21211 — the form lacks a body, a sender or a recipient,
  the body is over 1,600 characters, or ``To`` is not a phone number;
* 21656 — ``ContentVariables`` is not a JSON object of variable name to value;
* 20429 — over the sender's rate (``/sandbox/rate``), as Twilio's 429 queue overflow;
* 21610 — an SMS to a number that texted STOP (Twilio's Advanced Opt-Out) until it texts START;
* whatever a test injected for that recipient (``/sandbox/faults``).

Outside WhatsApp's 24-hour customer-service window free-form text is accepted, then fails with
63016 (as Twilio reports it: a ``failed`` status callback); a content template (``ContentSid``) is allowed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Response, jsonify

from bot.sandbox.state import SandboxState

Answer = tuple[Response, int]

WHATSAPP_WINDOW_S = 24 * 3600
"""WhatsApp's customer-service window: free-form messages only within 24 h of the user's last message."""
OUTSIDE_WINDOW = (63016, "Failed to send freeform message because you are outside the allowed window. "
                         "If you want to send messages outside the session window, use a Template.")


def twilio_error(status: int, code: int, message: str) -> Answer:
    """An error body as Twilio sends it (the twilio client turns it into TwilioRestException)."""
    return jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}), status


def invalid_create(form: Any) -> Answer | None:
    """The create form's own mistakes (a missing or malformed field), or None."""
    to, body = form.get("To", ""), form.get("Body")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body and not form.get("ContentSid") and not form.get("MediaUrl"):
        return twilio_error(400, 21602, "Message body is required.")
    if body and len(body) > 1600:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if form.get("ContentVariables") and not _json_object(form["ContentVariables"]):
        return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    number = to.removeprefix("whatsapp:")
    if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    return None


def injected_fault(state: SandboxState, to: str, latency_s: float) -> Answer | None:
    """Wait the create's latency (the sandbox's and any injected for ``to``); the injected error, if one is left."""
    with state.lock:
        fault = state.faults.get(to)
        injected = None
        if fault and fault.get("count", 0) > 0:
            fault["count"] -= 1
            injected = (fault["status"], fault["code"])
    if latency_s or (fault and fault.get("latency_s")):
        time.sleep(latency_s + (fault or {}).get("latency_s", 0))
    if injected:
        return twilio_error(injected[0], injected[1], f"injected fault {injected[1]}")
    return None


def over_rate(state: SandboxState, sender: str) -> Answer | None:
    """429 / 20429 when ``sender`` already had ``rate_mps`` creates accepted in the last second; else counts this one."""
    with state.lock:
        if state.rate_mps:
            window = [t for t in state.accepted.get(sender, []) if t > time.time() - 1.0]
            if len(window) >= state.rate_mps:
                state.refused += 1
                return twilio_error(429, 20429, "Too Many Requests")
            state.accepted[sender] = [*window, time.time()]
    return None


def unsubscribed(state: SandboxState, to: str, sender: str | None) -> Answer | None:
    """21610 for an SMS to a number that opted out of ``sender`` (Advanced Opt-Out is SMS only, and per sender: a
    STOP to one of the account's numbers blocks that number, or with a Messaging Service (``sender`` None) the
    whole service, which the sandbox takes as any of ours). Call with ``state.lock`` held."""
    if to.startswith("whatsapp:"):
        return None
    blocked = ((to, "*") in state.opted_out or (to, sender) in state.opted_out if sender
               else any(phone == to for phone, _ in state.opted_out))
    if blocked:
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    return None


def outside_window(state: SandboxState, to: str, content_sid: str | None) -> tuple[int, str] | None:
    """The 63016 failure of WhatsApp free-form text to a user silent for 24 h. Call with ``state.lock`` held."""
    if not to.startswith("whatsapp:") or content_sid:
        return None
    last = state.whatsapp_last_inbound.get(to.removeprefix("whatsapp:"))
    return OUTSIDE_WINDOW if last is None or state.now() - last > WHATSAPP_WINDOW_S else None


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
