"""Bearer-token checks for the JSON APIs."""

from __future__ import annotations

import hmac
from functools import wraps
from typing import Any, Callable

from flask import current_app, jsonify, request


def bearer(setting: str, *, open_when_unset: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view: 401 unless ``Authorization: Bearer <token>`` (RFC 6750) matches the named setting,
    compared in constant time.

    An unset token refuses every request (an API without a secret is closed, not open), unless
    ``open_when_unset`` (``/metrics``, which Prometheus scrapes inside a private network).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            secret = getattr(current_app.extensions["leadline"].settings, setting)
            if secret is None and open_when_unset:
                return view(*args, **kwargs)
            given = request.headers.get("Authorization", "")
            if secret is None or not given.startswith("Bearer ") or not hmac.compare_digest(
                    given[7:].encode(), secret.get_secret_value().encode()):
                answer = jsonify({"error": "missing or wrong bearer token"})
                answer.headers["WWW-Authenticate"] = "Bearer"
                return answer, 401
            return view(*args, **kwargs)

        return checked

    return decorate
