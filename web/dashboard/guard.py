"""What every request under ``/dashboard`` passes through: the session check, CSRF and the security headers.

Sessions. Every dashboard request but the login form and the static files looks its session id up in Redis
(:mod:`web.signin`): without a live one it is sent to the login form. Logout deletes the id, so a copied
cookie stops working in every web process at once, and a cookie without a live id (an old one, or one
signed with a derived key) opens nothing. With Redis down, the look-up fails and the request is answered 503:
nobody is let in unchecked. Every POST carries a CSRF token (Flask-WTF); a missing or stale one is answered
400 with a page saying so.

Headers. Every response under ``/dashboard`` (pages, redirects, errors, 404s, the CSV export, static files)
carries :data:`SECURITY_HEADERS`: a Content-Security-Policy allowing only the dashboard's own scripts, styles
and images (the templates have no inline script or style), no framing, ``nosniff`` and ``no-referrer``; all
but the static files also carry ``Cache-Control: no-store``, since they hold personal data.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError

from web.dashboard.blueprint import bp, csrf, runtime
from web.signin import session_is_live

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
"""Set on every response under ``/dashboard``; all but the static files served also get ``Cache-Control: no-store``."""


@bp.before_request
def _guard() -> Any:
    """Check the CSRF token of a POST; send a request without a live session to the login form."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in ("dashboard.login", "dashboard.static"):
        return None
    if not session_is_live(runtime().redis, session.get("sid")):
        return redirect(url_for("dashboard.login", next=request.full_path if request.query_string else request.path))
    g.signed_in = True  # the templates show the navigation and the logout button
    return None


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    """Put :data:`SECURITY_HEADERS` (and, but on static files, ``no-store``) on a response under ``/dashboard``."""
    # App-wide, because a URL under /dashboard that matches no route (a 404) never reaches the blueprint's hooks.
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        response.headers.update(SECURITY_HEADERS)
        if request.endpoint != "dashboard.static" or response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """A form without a valid CSRF token: the error page, 400."""
    return render_template("dashboard/error.html", message="This form expired. Go back, reload the page and try again."), 400
