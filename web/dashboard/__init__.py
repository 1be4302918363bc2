"""``/dashboard``: the owners', reps' and agency admins' work queue and lead pages, server-rendered, behind a
login per user (``leadline users add``), each user seeing one business's leads (an agency admin: the one chosen).

One blueprint, :data:`web.dashboard.blueprint.bp`, carries every route; each module puts on it one concept:

- :mod:`~web.dashboard.blueprint`: the blueprint, the CSRF extension, the ``row_id`` URL converter, the runtime;
- :mod:`~web.dashboard.guard`: what every request passes through (the session check, CSRF, security headers);
- :mod:`~web.dashboard.login`: logging in (with the throttle) and out;
- :mod:`~web.dashboard.viewer`: who is signed in and which business they look at; the agency's switcher;
- :mod:`~web.dashboard.overview`: the agency's overview of every business;
- :mod:`~web.dashboard.pages`: the work-queue page and the lead page, and their template filters;
- :mod:`~web.dashboard.actions`: the forms that act on a lead (booked, won, lost, claim, reply, ...);
- :mod:`~web.dashboard.export`: the owner report as CSV.

Cookies. A login's session id (:mod:`web.signin`, 256 bits) goes into Flask's signed cookie, signed with
``SECRET_KEY``, without which the dashboard is closed and which is never derived from a password; HttpOnly,
SameSite=Lax, Secure behind https; it lives 12 hours from login.

Client address. The login throttle counts per client address: the socket's peer, unless ``TRUSTED_PROXIES``
(n > 0) says n reverse proxies append to ``X-Forwarded-For``: then werkzeug's ``ProxyFix`` reads it n hops
from the right. With 0 the header is ignored, so a client cannot pick its own address.
"""

from __future__ import annotations

import secrets

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

# Importing the route modules puts their rules and hooks on bp, before any app registers it.
from web.dashboard import actions, export, guard, login, overview, pages, viewer  # noqa: F401
from web.dashboard.blueprint import RowIdConverter, bp, csrf
from web.signin import SESSION_LIFETIME


def init_app(app: Flask) -> None:
    """Wire the dashboard into ``app``: its secret key, cookie flags, CSRF (checked on the dashboard's forms
    only), the ``row_id`` URL converter, the security headers and, with ``TRUSTED_PROXIES`` > 0, ``ProxyFix``."""
    settings = app.extensions["leadline"].settings
    # Without SECRET_KEY the dashboard is closed (its login answers 503; settings refuse DASHBOARD_PASSWORD
    # without one): nothing is signed that another process must read, so a random key serves.
    key = settings.secret_key.get_secret_value() if settings.secret_key is not None else secrets.token_hex(32)
    app.config.update(SECRET_KEY=key, WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    if settings.trusted_proxies > 0:
        # Only the hops we were told about are believed: the rest of X-Forwarded-For is the client's to forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    app.url_map.converters["row_id"] = RowIdConverter  # before the blueprint's rules are bound
    csrf.init_app(app)
    app.register_blueprint(bp)
