"""Bearer-token checks for the JSON APIs, and which business a token speaks for."""

from __future__ import annotations

import hmac
from functools import wraps
from typing import Any, Callable

from flask import current_app, g, jsonify, request

from store import tokens
from store.tenancy import DEFAULT_BUSINESS_ID

ENV_TOKENS = {"leads": "api_token", "stats": "stats_token"}
"""The environment's token per scope (``API_TOKEN``, ``STATS_TOKEN``): the ``default`` business's in a one-business
deployment; the agency's (every business) once ``BUSINESSES_DIR`` is set."""


def _refused() -> tuple[Any, int]:
    answer = jsonify({"error": "missing or wrong bearer token"})
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer, 401


def _given() -> str | None:
    given = request.headers.get("Authorization", "")
    return given[7:] if given.startswith("Bearer ") and len(given) > 7 else None


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
            given = _given()
            if secret is None or given is None or not hmac.compare_digest(
                    given.encode(), secret.get_secret_value().encode()):
                return _refused()
            return view(*args, **kwargs)

        return checked

    return decorate


def business_bearer(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view: 401 unless the bearer token is one of ``scope`` (``leads``, ``stats``); the view then runs
    for its holder, ``g.business_id``: a business id, or None for the agency (every business).

    A token is one ``leadline businesses token`` issued (kept hashed, :mod:`store.tokens`), or the environment's
    (:data:`ENV_TOKENS`, compared in constant time).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            rt = current_app.extensions["leadline"]
            given = _given()
            if given is None:
                return _refused()
            secret = getattr(rt.settings, ENV_TOKENS[scope])
            if secret is not None and hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
                g.business_id = DEFAULT_BUSINESS_ID if rt.directory.single else None
                return view(*args, **kwargs)
            with rt.sessions() as session:
                found = tokens.holder(session, token=given, scope=scope)
            if found is None:
                return _refused()
            g.business_id = found.business_id
            return view(*args, **kwargs)

        return checked

    return decorate
