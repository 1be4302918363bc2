"""Twilio's Messages resource: create, fetch and list, under HTTP basic auth.

``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` and ``GET …/Messages/{Sid}.json``
answer with the JSON of ``api.v2010.account.message`` in Twilio's OpenAPI description
(``shared/twilio/messages-openapi.json``), pages as Twilio pages them, and Twilio's errors.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from flask import Blueprint, jsonify, request

from bot.sandbox.content import render
from bot.sandbox.context import authorized, current
from bot.sandbox.refusals import (
    injected_fault,
    invalid_create,
    outside_window,
    over_rate,
    twilio_error,
    unsubscribed,
)
from bot.sandbox.state import SandboxState, new_sid

bp = Blueprint("sandbox_messages", __name__)

API = "/2010-04-01/Accounts/<account_sid>"
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")


def segments(body: str) -> int:
    """SMS segments: 160/153 characters in GSM-7, 70/67 in UCS-2."""
    single, multi = (160, 153) if set(body) <= GSM7 else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


def resource(account_sid: str, m: dict[str, Any]) -> dict[str, Any]:
    """A stored message as Twilio's JSON."""
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


@bp.post(f"{API}/Messages.json")
def create_message(account_sid: str) -> Any:
    ctx = current()
    if not authorized(ctx, account_sid):
        return twilio_error(401, 20003, "Authenticate")
    form = request.form
    to = form.get("To", "")
    refusal = invalid_create(form) or injected_fault(ctx.state, to, ctx.latency_s) \
        or over_rate(ctx.state, form.get("MessagingServiceSid") or form.get("From", ""))
    if refusal:
        return refusal
    with ctx.state.lock:
        refusal = unsubscribed(ctx.state, to, form.get("From"))
        if refusal:
            return refusal
        failure = outside_window(ctx.state, to, form.get("ContentSid"))
        message = _outbound(ctx.state, form)
        ctx.state.messages[message["sid"]] = message
        answer = resource(ctx.account_sid, message)
    ctx.callbacks.follow(message["sid"], failure)
    return jsonify(answer), 201


@bp.get(f"{API}/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str) -> Any:
    ctx = current()
    if not authorized(ctx, account_sid):
        return twilio_error(401, 20003, "Authenticate")
    with ctx.state.lock:
        if sid not in ctx.state.messages:
            return twilio_error(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
        return jsonify(resource(ctx.account_sid, ctx.state.messages[sid]))


@bp.get(f"{API}/Messages.json")
def list_messages(account_sid: str) -> Any:
    """Newest first, filtered by ``To``/``From``, in pages of ``PageSize`` (1–1000) numbered from ``Page`` 0."""
    ctx = current()
    if not authorized(ctx, account_sid):
        return twilio_error(401, 20003, "Authenticate")
    to, sender = request.args.get("To"), request.args.get("From")
    page_size = min(max(int(request.args.get("PageSize", 50)), 1), 1000)
    page = max(int(request.args.get("Page", 0)), 0)
    with ctx.state.lock:
        rows = [m for m in reversed(ctx.state.messages.values())
                if (not to or m["to"] == to) and (not sender or m["from"] == sender)]
        chunk = [resource(ctx.account_sid, m) for m in rows[page * page_size:(page + 1) * page_size]]
    base = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    query = "".join(f"&{k}={v}" for k, v in (("To", to), ("From", sender)) if v)

    def page_uri(p: int) -> str:
        return f"{base}?PageSize={page_size}&Page={p}{query}"

    more = (page + 1) * page_size < len(rows)
    return jsonify({
        "messages": chunk, "page": page, "page_size": page_size, "start": page * page_size,
        "end": page * page_size + max(len(chunk) - 1, 0), "uri": page_uri(page), "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if more else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    })


def _outbound(state: SandboxState, form: Any) -> dict[str, Any]:
    """The stored record of a message the create ``form`` asks for, ``queued``. A ``ContentSid`` the sandbox
    created shows its rendered body and buttons (``content.render``); one it never saw shows ``[template HX…]``.
    Call with ``state.lock`` held."""
    sender, body, content_sid = form.get("From"), form.get("Body"), form.get("ContentSid")
    shown = render(state, content_sid, form.get("ContentVariables")) or {}
    return {
        "sid": new_sid("SM"), "to": form.get("To", ""), "from": sender if sender else None,
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": shown.get("body") or body or (f"[template {content_sid}]" if content_sid else ""),
        "direction": "outbound-api", "status": "queued", "created": state.now(), "updated": state.now(),
        "status_callback": form.get("StatusCallback"), "content_sid": content_sid,
        "content_variables": form.get("ContentVariables"), "media": form.getlist("MediaUrl"),
        "content_type": shown.get("content_type"), "buttons": shown.get("buttons", []),
    }


def _rfc2822(epoch: float | None) -> str | None:
    return None if epoch is None else format_datetime(datetime.fromtimestamp(epoch, timezone.utc))
