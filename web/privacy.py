"""``POST /privacy/erase``: erase a number on request (a ``leads`` bearer token).

Body: ``{"phone": "+1…"}``. A business's token erases the number from that business; the agency's (``API_TOKEN``
once ``BUSINESSES_DIR`` is set) from every business, as a data subject's request needs. Answers 200 with what was
removed, 401 without a token, 422 naming a bad field. See ``bot.erasure``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from bot.erasure import erase
from graph.playbook import to_e164
from web.auth import business_bearer

bp = Blueprint("privacy", __name__)


@bp.post("/privacy/erase")
@business_bearer("leads")
def erase_number() -> tuple[Any, int]:
    """Erase everything held about the number but its hashed opt-out."""
    payload = request.get_json(silent=True)
    raw = payload.get("phone") if isinstance(payload, dict) else None
    try:
        phone = to_e164(str(raw)) if raw else None
    except ValueError as exc:
        return jsonify({"error": "invalid request", "fields": [{"field": "phone", "message": str(exc)}]}), 422
    if phone is None:
        return jsonify({"error": "invalid request", "fields": [{"field": "phone", "message": "required"}]}), 422
    erased = erase(current_app.extensions["leadline"], phone, business_id=g.business_id)
    return jsonify({"phone": phone, "erased": erased}), 200
