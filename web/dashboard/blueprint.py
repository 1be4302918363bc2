"""The dashboard's blueprint, :data:`bp`, which every dashboard route and hook is on, and what they share:
the CSRF extension, the ``row_id`` URL converter, and the runtime: the app's, or the request's business's.

Inputs. Ids in URLs are ``<row_id:...>`` (ASCII digits, 1 to :data:`store.bounds.MAX_ID`); anything else
matches no route, so it is a 404.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter, ValidationError

from runtime import Runtime
from store.bounds import MAX_DIGITS, row_id

# The templates and the stylesheet stay in web/templates and web/static, where the package data points.
bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", root_path=str(Path(__file__).parent.parent),
               template_folder="templates", static_folder="static", static_url_path="/static")
"""``/dashboard``: one blueprint for every page, form, export and static file, so every rule is ``dashboard.*``."""
csrf = CSRFProtect()
"""Flask-WTF's CSRF check: the guard (:mod:`web.dashboard.guard`) runs it on the dashboard's POSTs only."""


class RowIdConverter(IntegerConverter):
    """``<row_id:name>`` in a route: a row id, 1 to :data:`store.bounds.MAX_ID` in ASCII digits
    (:func:`store.bounds.row_id`). Anything else does not match, so the route answers 404, not a 500 from an
    id the database cannot hold (werkzeug's ``int`` takes any length and Unicode digits)."""

    regex = r"[0-9]{1,%d}" % MAX_DIGITS

    def to_python(self, value: str) -> int:
        try:
            return row_id(value)
        except ValueError:
            raise ValidationError() from None


def app_runtime() -> Runtime:
    """The app's runtime (settings, database sessions, Redis, the jobs port), as no business in particular: for
    what comes before knowing who is signed in (the guard, logging in and out)."""
    rt: Runtime = current_app.extensions["leadline"]
    return rt


def runtime() -> Runtime:
    """The runtime as the business the signed-in user is looking at (its playbook; :attr:`Runtime.business`'s id
    scopes every query), which the guard (:mod:`web.dashboard.viewer`) resolved for the request.

    Raises:
        RuntimeError: the request has no business (a page that needs one was reached without the guard).
    """
    rt: Runtime | None = g.get("runtime")
    if rt is None:
        raise RuntimeError("this dashboard request has no business: the guard resolves one before any page")
    return rt
