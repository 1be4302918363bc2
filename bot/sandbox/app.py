"""The sandbox: a Twilio-compatible Messages API on loopback for local runs and tests.

It keeps the contract of Twilio's OpenAPI description of the Messages resource
(``shared/twilio/messages-openapi.json``): ``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json``
and ``GET …/Messages/{Sid}.json`` with HTTP basic auth, Twilio-shaped JSON and errors, and
status callbacks signed like Twilio's. It refuses what Twilio refuses:

* 21610 — a number that texted STOP (Twilio's Advanced Opt-Out, SMS) gets nothing until START;
* 63016 — WhatsApp free-form text outside the 24-hour customer-service window fails
  (a content template, ``ContentSid``, is allowed).

Besides the Twilio API, ``/sandbox/*`` plays the prospect's phone: ``POST /sandbox/inbound``
delivers a message to the app's webhook exactly as Twilio would (signed form post).
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.keywords import classify

log = logging.getLogger(__name__)

API = "/2010-04-01/Accounts/<account_sid>"
WHATSAPP_WINDOW_S = 24 * 3600
"""WhatsApp's customer-service window: free-form messages only within 24 h of the user's last message."""
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")


@dataclass
class SandboxState:
    """Everything the sandbox remembers; one lock guards it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)
    whatsapp_last_inbound: dict[str, float] = field(default_factory=dict)
    clock_offset_s: float = 0.0
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per recipient: ``{"status", "code", "count", "latency_s"}`` injected into message creation."""
    rate_mps: float | None = None
    """Creates accepted per sender per rolling second; more are refused 429 / 20429 as Twilio does."""
    accepted: dict[str, list[float]] = field(default_factory=dict)
    refused: int = 0

    def now(self) -> float:
        return time.time() + self.clock_offset_s


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def segments(body: str) -> int:
    """SMS segments: 160/153 characters in GSM-7, 70/67 in UCS-2."""
    single, multi = (160, 153) if set(body) <= GSM7 else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


def twilio_error(status: int, code: int, message: str) -> tuple[Response, int]:
    """An error body as Twilio sends it (the twilio client turns it into TwilioRestException)."""
    return jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}), status


def create_sandbox(*, account_sid: str, auth_token: str, webhook_url: str | None = None,
                   latency_s: float = 0.0) -> Flask:
    """The sandbox as a Flask app.

    Args:
        account_sid / auth_token: the credentials it accepts (basic auth) and signs with.
        webhook_url: where ``/sandbox/inbound`` delivers prospect messages (the app's
            ``/twilio/messages``).
        latency_s: delay added to every create call, seconds (Twilio's API takes ~150 ms).
    """
    app = Flask("leadline-sandbox")
    state = SandboxState()
    validator = RequestValidator(auth_token)
    callbacks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-callback")
    app.extensions["sandbox"] = state
    app.config["WEBHOOK_URL"] = webhook_url

    def authorized(path_sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return secrets.compare_digest(user, account_sid) and secrets.compare_digest(password, auth_token) \
            and path_sid == account_sid

    def resource(m: dict[str, Any]) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{m['sid']}.json"
        return {
            "account_sid": account_sid, "api_version": "2010-04-01", "body": m["body"],
            "date_created": _rfc2822(m["created"]), "date_sent": _rfc2822(m.get("sent")),
            "date_updated": _rfc2822(m["updated"]), "direction": m["direction"], "error_code": m.get("error_code"),
            "error_message": m.get("error_message"), "from": m["from"],
            "messaging_service_sid": m.get("messaging_service_sid"), "num_media": str(len(m.get("media", []))),
            "num_segments": str(segments(m["body"] or "")), "price": None, "price_unit": "USD",
            "sid": m["sid"], "status": m["status"], "to": m["to"], "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json"),
                                 "feedback": uri.replace(".json", "/Feedback.json")},
        }

    def advance(sid: str, status: str, error: tuple[int, str] | None = None) -> None:
        with state.lock:
            m = state.messages[sid]
            m["status"], m["updated"] = status, state.now()
            if status == "sent":
                m["sent"] = state.now()
            if error:
                m["error_code"], m["error_message"] = error
            callback = m.get("status_callback")
            params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                      "AccountSid": account_sid, "From": m["from"] or "", "To": m["to"], "ApiVersion": "2010-04-01"}
        if error:
            params["ErrorCode"] = str(error[0])
        if callback:
            _post_signed(validator, callback, params)

    def lifecycle(sid: str, failure: tuple[int, str] | None) -> None:
        time.sleep(0.02)
        if failure:
            advance(sid, "failed", failure)
            return
        advance(sid, "sent")
        time.sleep(0.02)
        advance(sid, "delivered")

    @app.post(f"{API}/Messages.json")
    def create_message(account_sid: str) -> Any:
        if not authorized(account_sid):
            return twilio_error(401, 20003, "Authenticate")
        form = request.form
        to, sender, service = form.get("To", ""), form.get("From"), form.get("MessagingServiceSid")
        body, content_sid = form.get("Body"), form.get("ContentSid")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body and not content_sid and not form.get("MediaUrl"):
            return twilio_error(400, 21602, "Message body is required.")
        if body and len(body) > 1600:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        number = to.removeprefix("whatsapp:")
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
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
        with state.lock:
            if state.rate_mps:
                window = [t for t in state.accepted.get(service or sender, []) if t > time.time() - 1.0]
                if len(window) >= state.rate_mps:
                    state.refused += 1
                    return twilio_error(429, 20429, "Too Many Requests")
                state.accepted[service or sender] = [*window, time.time()]
        failure = None
        with state.lock:
            whatsapp = to.startswith("whatsapp:")
            if not whatsapp and number in state.opted_out:
                return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
            last = state.whatsapp_last_inbound.get(number)
            if whatsapp and not content_sid and (last is None or state.now() - last > WHATSAPP_WINDOW_S):
                failure = (63016, "Failed to send freeform message because you are outside the allowed window. "
                                  "If you want to send messages outside the session window, use a Template.")
            sid = new_sid("SM")
            message = {
                "sid": sid, "to": to, "from": sender if sender else None, "messaging_service_sid": service,
                "body": body if body else (f"[template {content_sid}]" if content_sid else ""),
                "direction": "outbound-api", "status": "queued", "created": state.now(), "updated": state.now(),
                "status_callback": form.get("StatusCallback"), "content_sid": content_sid,
                "content_variables": form.get("ContentVariables"), "media": form.getlist("MediaUrl"),
            }
            state.messages[sid] = message
            answer = resource(message)
        callbacks.submit(lifecycle, sid, failure)
        return jsonify(answer), 201

    @app.get(f"{API}/Messages/<sid>.json")
    def fetch_message(account_sid: str, sid: str) -> Any:
        if not authorized(account_sid):
            return twilio_error(401, 20003, "Authenticate")
        with state.lock:
            if sid not in state.messages:
                return twilio_error(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
            return jsonify(resource(state.messages[sid]))

    @app.get(f"{API}/Messages.json")
    def list_messages(account_sid: str) -> Any:
        if not authorized(account_sid):
            return twilio_error(401, 20003, "Authenticate")
        to, sender = request.args.get("To"), request.args.get("From")
        page_size = min(max(int(request.args.get("PageSize", 50)), 1), 1000)
        page = max(int(request.args.get("Page", 0)), 0)
        with state.lock:
            rows = [m for m in reversed(state.messages.values())
                    if (not to or m["to"] == to) and (not sender or m["from"] == sender)]
            chunk = [resource(m) for m in rows[page * page_size:(page + 1) * page_size]]
        base = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        query = "".join(f"&{k}={v}" for k, v in (("To", to), ("From", sender)) if v)
        page_uri = lambda p: f"{base}?PageSize={page_size}&Page={p}{query}"  # noqa: E731
        more = (page + 1) * page_size < len(rows)
        return jsonify({
            "messages": chunk, "page": page, "page_size": page_size, "start": page * page_size,
            "end": page * page_size + max(len(chunk) - 1, 0), "uri": page_uri(page), "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        })

    @app.post("/sandbox/inbound")
    def inbound() -> Any:
        """Play the prospect: deliver a message to the webhook as Twilio would (signed)."""
        target = app.config["WEBHOOK_URL"]
        if not target:
            return jsonify({"error": "the sandbox has no webhook_url"}), 409
        sender, to, body = request.form.get("From", ""), request.form.get("To", ""), request.form.get("Body", "")
        if not sender or not to:
            return jsonify({"error": "From and To are required"}), 422
        number = sender.removeprefix("whatsapp:")
        sid = request.form.get("MessageSid") or new_sid("SM")
        with state.lock:
            keyword = classify(body)
            if not sender.startswith("whatsapp:"):  # Advanced Opt-Out is an SMS feature
                if keyword == "opt_out":
                    state.opted_out.add(number)
                elif keyword == "opt_in":
                    state.opted_out.discard(number)
            else:
                state.whatsapp_last_inbound[number] = state.now()
            state.messages.setdefault(sid, {
                "sid": sid, "to": to, "from": sender, "body": body, "direction": "inbound", "status": "received",
                "created": state.now(), "updated": state.now(), "sent": state.now(),
            })
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": account_sid,
                  "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": str(segments(body)),
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        if sender.startswith("whatsapp:"):
            params["WaId"] = number.lstrip("+")
            if request.form.get("ProfileName"):
                params["ProfileName"] = request.form["ProfileName"]
        status = _post_signed(validator, target, params)
        return jsonify({"sid": sid, "webhook_status": status})

    @app.post("/sandbox/optouts")
    def record_opt_out() -> Any:
        """Opt a number out at "Twilio" only (a STOP sent to another of the account's numbers)."""
        with state.lock:
            state.opted_out.add(request.form.get("Phone", ""))
        return jsonify({"opted_out": sorted(state.opted_out)})

    @app.route("/sandbox/rate", methods=["GET", "POST"])
    def rate() -> Any:
        """POST ``Mps``: creates accepted per sender per second (0: no limit). GET: the limit and how many were refused."""
        with state.lock:
            if request.method == "POST":
                state.rate_mps = float(request.form.get("Mps", 0)) or None
                state.refused = 0
            return jsonify({"mps": state.rate_mps, "refused": state.refused})

    @app.post("/sandbox/faults")
    def inject_fault() -> Any:
        """Make creating messages to ``To`` fail ``Count`` times with ``Status``/``Code``, or take ``LatencyS`` longer."""
        with state.lock:
            state.faults[request.form["To"]] = {
                "status": int(request.form.get("Status", 500)), "code": int(request.form.get("Code", 20500)),
                "count": int(request.form.get("Count", 0)), "latency_s": float(request.form.get("LatencyS", 0)),
            }
            return jsonify(state.faults[request.form["To"]])

    @app.post("/sandbox/clock")
    def clock() -> Any:
        """Move the sandbox's clock forward (``advance_s`` seconds), e.g. past the WhatsApp window."""
        with state.lock:
            state.clock_offset_s += float(request.form.get("advance_s", 0))
            return jsonify({"clock_offset_s": state.clock_offset_s})

    @app.get("/sandbox/messages")
    def all_messages() -> Any:
        """Every message with the sandbox's own details (ContentSid, StatusCallback), oldest first."""
        to = request.args.get("To")
        with state.lock:
            rows = [dict(m) for m in state.messages.values() if not to or m["to"] == to]
        return jsonify(rows)

    return app


def _post_signed(validator: RequestValidator, url: str, params: dict[str, str]) -> int | None:
    """POST ``params`` to ``url`` with X-Twilio-Signature, as Twilio does; returns the HTTP status."""
    signature = validator.compute_signature(url, params)
    try:
        return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15).status_code
    except requests.RequestException as exc:
        log.warning("sandbox could not reach %s: %s", url, exc)
        return None


def _rfc2822(epoch: float | None) -> str | None:
    return None if epoch is None else format_datetime(datetime.fromtimestamp(epoch, timezone.utc))


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, so a client keeps its connection open between requests as it does with Twilio's API
    (werkzeug's development server speaks HTTP/1.0 and closes each connection otherwise)."""

    protocol_version = "HTTP/1.1"


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve a WSGI app on a background thread (threaded server); returns the server and its base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log on the terminal
    server = make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
    threading.Thread(target=server.serve_forever, name=f"wsgi-{server.port}", daemon=True).start()
    return server, f"http://{host}:{server.port}"



def main(argv: list[str] | None = None) -> None:
    """``python -m bot.sandbox``: serve the sandbox in the foreground until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="Twilio-compatible Messages API on loopback.")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_sandbox(account_sid=args.account_sid, auth_token=args.auth_token, webhook_url=args.webhook_url,
                         latency_s=args.latency_ms / 1000)
    make_server("127.0.0.1", args.port, app, threaded=True, request_handler=_KeepAliveHandler).serve_forever()


if __name__ == "__main__":
    main()
