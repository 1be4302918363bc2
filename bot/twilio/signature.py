"""X-Twilio-Signature checking for webhooks, with twilio's RequestValidator.

Twilio signs the full URL it requested plus the POST parameters with the account's auth
token (https://www.twilio.com/docs/usage/security#validating-requests). Behind a proxy or
tunnel the URL Flask sees differs from the one Twilio called, so the URL is rebuilt from
``PUBLIC_BASE_URL`` and the request path.

Twilio sends each parameter once (https://www.twilio.com/docs/messaging/guides/webhook-request). The
signature covers every value of a repeated one, yet the views read only the first, so a signed request
that repeats a parameter is refused (400) rather than read in part.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict


def public_url(base_url: str) -> str:
    """The URL Twilio requested: ``PUBLIC_BASE_URL`` + path + query string."""
    query = request.query_string.decode("latin-1")
    return f"{base_url}{request.path}" + (f"?{query}" if query else "")


def repeated_parameters(form: MultiDict[str, str]) -> list[str]:
    """Names of the form parameters that carry more than one value, sorted (none in a request from Twilio)."""
    return sorted(name for name in form if len(form.getlist(name)) > 1)


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a webhook view: 403 unless X-Twilio-Signature is valid for this request, then 400 if a parameter
    is repeated (see :func:`repeated_parameters`)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        form = request.form  # first: a body over MAX_CONTENT_LENGTH is refused (413) before any work
        settings = current_app.extensions["leadline"].settings
        validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(public_url(settings.public_base_url), form, signature):
            abort(403, description="invalid or missing X-Twilio-Signature")
        if repeated := repeated_parameters(form):
            abort(400, description=f"parameters sent more than once: {', '.join(repeated)}")
        return view(*args, **kwargs)

    return checked
