"""``POST /privacy/erase``: erase a number on request (Bearer ``API_TOKEN``).

Body: ``{"phone": "+1…"}``. Answers 200 with what was removed, 401 without the token,
422 naming a bad field. See ``bot.erasure``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from bot.erasure import erase
from graph.playbook import to_e164
from web.auth import bearer

bp = Blueprint("privacy", __name__)


@bp.post("/privacy/erase")
@bearer("api_token")
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
    return jsonify({"phone": phone, "erased": erase(current_app.extensions["leadline"], phone)}), 200
