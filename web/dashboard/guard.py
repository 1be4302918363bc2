"""What every request under ``/dashboard`` passes through: the session check, CSRF and the security headers.

Sessions. Every dashboard request but the login form and the static files looks its session id up in Redis
(:mod:`web.signin`), then its user in the database (:mod:`web.dashboard.viewer`): without a live session of a
user who still exists with the same password it is sent to the login form. Logout deletes the id, so a copied
cookie stops working in every web process at once, and a cookie without a live id (an old one, or one
signed with a derived key) opens nothing. With Redis down, the look-up fails and the request is answered 503:
nobody is let in unchecked. Every POST carries a CSRF token (Flask-WTF); a missing or stale one is answered
400 with a page saying so.

Business. The guard then scopes the request to the business its user looks at (``g.runtime``, which
:func:`web.dashboard.blueprint.runtime` returns, and ``g.viewer``): every page and form reads and changes that
business's rows only. An agency admin who has chosen no business reaches only :data:`AGENCY_PAGES`; anything
else sends them to the overview.

Headers. Every response under ``/dashboard`` (pages, redirects, errors, 404s, the CSV export, static files)
carries :data:`SECURITY_HEADERS`: a Content-Security-Policy allowing only the dashboard's own scripts, styles
and images (the templates have no inline script or style), no framing, ``nosniff`` and ``no-referrer``; all
but the static files also carry ``Cache-Control: no-store``, since they hold personal data.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from runtime.businesses import UnknownBusiness
from web.dashboard.blueprint import app_runtime, bp, csrf
from web.dashboard.login import bootstrap_owner
from web.dashboard.viewer import who

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
"""Set on every response under ``/dashboard``; all but the static files served also get ``Cache-Control: no-store``."""


AGENCY_PAGES = ("dashboard.overview", "dashboard.switch", "dashboard.logout")
"""What an agency admin may open before choosing a business: every other page shows one business's leads."""


@bp.before_request
def _guard() -> Any:
    """Check the CSRF token of a POST; send a request without a live session to the login form; scope the rest to
    the business its user looks at."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint == "dashboard.static":
        return None
    rt = app_runtime()
    bootstrap_owner(rt)
    if request.endpoint == "dashboard.login":
        return None
    viewer = who(rt)
    if viewer is None:
        return redirect(url_for("dashboard.login", next=request.full_path if request.query_string else request.path))
    g.viewer, g.signed_in = viewer, True  # the templates show the navigation, the switcher and the logout button
    if viewer.business_id is None:
        return None if request.endpoint in AGENCY_PAGES else redirect(url_for("dashboard.overview"))
    try:
        g.runtime = rt.for_business(viewer.business_id)  # before any page opens a database session
    except UnknownBusiness:
        return render_template("dashboard/error.html", message="This business is not set up yet: its playbook "
                               "has not been synced (leadline businesses sync)."), 503
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
