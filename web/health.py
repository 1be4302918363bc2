"""Answers about the app's own health: ``/healthz``, and the 503 / 422 a request gets when the database or Redis is
away or the database refuses a value."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError

log = logging.getLogger("leadline.web")


def unavailable(exc: Exception) -> Any:
    """The database or Redis is down: a fast 503 (Twilio then tries the webhook's fallback URL and retries),
    logged; nothing half-done is kept, since the request's transaction never committed."""
    log.error("%s %s: %s unavailable: %s", request.method, request.path,
                                            "database" if isinstance(exc, DBAPIError) else "Redis",
                                            type(exc).__name__)
    answer = jsonify({"error": "temporarily unavailable; try again"})
    answer.headers["Retry-After"] = "5"
    return answer, 503


def unstorable(exc: DataError) -> Any:
    """A value the database refuses (Postgres: a NUL character, a number out of range) that no field check caught:
    the request is wrong, not the database, so 422, not a 503 that Twilio would retry forever; logged without the
    value. Nothing half-done is kept, since the request's transaction never committed."""
    log.warning("%s %s: a value the database refuses: %s", request.method, request.path,
                                              type(exc.orig).__name__)
    return jsonify({"error": "a value in the request cannot be stored"}), 422


def healthz() -> Any:
    """Database and Redis, each ``ok`` or ``down``; 503 when either is down."""
    rt = current_app.extensions["leadline"]
    checks = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "down"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", **checks}), 200 if healthy else 503
