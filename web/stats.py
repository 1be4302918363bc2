"""``GET /stats``: the owner report as JSON, of the business the bearer token belongs to, or, for the agency's
token, of every business together with each business's headline figures beside them.

Tokens (:func:`web.auth.business_bearer`, scope ``stats``): a business's token (``leadline businesses token
--business SLUG --scope stats``; in a one-business deployment also ``STATS_TOKEN``) sees only its business; the
agency's (``--agency``; ``STATS_TOKEN`` once ``BUSINESSES_DIR`` is set) sees every business's totals and the
``businesses`` list, or one business's report with ``?business=<slug>``. A slug the token may not see, or no
active business has, is a 404 (the same answer either way: a business token cannot probe for other businesses).

Query: ``since`` and ``until``, ISO 8601 (a date, or a date-time with or without a zone;
no zone means UTC), between 1970 and 2200 (``store.bounds.parse_instant``). 422 names a
parameter that does not parse or is out of that range, or a window that ends before it starts.
Every figure and its unit is listed in the README's owner section.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request

from runtime import Runtime
from store.bounds import EARLIEST, LATEST, parse_instant
from store.models import utcnow
from store.overview import per_business
from store.stats import report, send_backlog
from web.auth import business_bearer

bp = Blueprint("stats", __name__)

WINDOW_HINT = f"expected ISO 8601 between {EARLIEST.year} and {LATEST.year}, e.g. 2026-11-01 or 2026-11-01T00:00:00Z"
Window = dict[str, datetime | None]


def month_start(now: datetime, zone: str) -> datetime:
    """The first instant of ``now``'s calendar month in ``zone``, as UTC. ``now`` is the server's clock, never a
    request's instant (those are bounded by ``store.bounds`` and only filter rows)."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


def _window() -> tuple[Window, list[dict[str, str]]]:
    """The request's ``since``/``until`` (UTC), and what is wrong with them (empty when nothing)."""
    window: Window = {}
    errors = []
    for name in ("since", "until"):
        raw = request.args.get(name)
        try:
            window[name] = parse_instant(raw) if raw else None
        except ValueError:
            errors.append({"field": name, "message": WINDOW_HINT})
    if not errors and window["since"] and window["until"] and window["until"] <= window["since"]:
        errors.append({"field": "until", "message": "must be after since"})
    return window, errors


@bp.get("/stats")
@business_bearer("stats")
def stats() -> tuple[Any, int]:
    """The owner report for the window: the token's business, or every business's for the agency's token."""
    window, errors = _window()
    if errors:
        return jsonify({"error": "invalid window", "fields": errors}), 422
    rt: Runtime = current_app.extensions["leadline"]
    business_id: int | None = g.business_id
    slug = request.args.get("business")
    if slug:
        wanted = rt.directory.by_slug(slug)
        if wanted is None or business_id not in (None, wanted):
            return jsonify({"error": "no such business"}), 404
        business_id = wanted
    now = utcnow()
    figures = _every_business(rt, window, now) if business_id is None else \
        _one_business(rt.for_business(business_id), window, now)
    figures["window"] = {k: v.isoformat() if v else None for k, v in window.items()}
    figures["generated_at"] = now.isoformat()
    return jsonify(figures), 200


def _one_business(rt: Runtime, window: Window, now: datetime) -> dict[str, Any]:
    """``rt.business``'s report, its goals counted in its time zone's month."""
    playbook = rt.playbook
    start = month_start(now, playbook.business.timezone)
    with rt.sessions() as session:
        figures = report(session, business_id=rt.business.id, since=window["since"], until=window["until"],
                         month_start=start, step_ids=[s.id for s in playbook.cadence.steps])
        figures["send_backlog"] = send_backlog(session, now, business_id=rt.business.id)
    goal = playbook.goals.qualified_per_month
    figures["goals"] = {
        "month": start.astimezone(ZoneInfo(playbook.business.timezone)).strftime("%Y-%m"),
        "qualified_this_month": figures.pop("qualified_this_month"),
        "qualified_per_month": goal,
    }
    figures["goals"]["progress"] = round(figures["goals"]["qualified_this_month"] / goal, 4) if goal else None
    figures["business"] = {"slug": rt.business.slug, "name": playbook.business.name}
    return figures


def _every_business(rt: Runtime, window: Window, now: datetime) -> dict[str, Any]:
    """Every business's report added together (goals: this UTC month, no target), and ``businesses``: each
    active business's leads, speed-to-lead p50/p90 (minutes) and rates, by name."""
    start = month_start(now, "UTC")
    with rt.sessions() as session:
        figures = report(session, business_id=None, since=window["since"], until=window["until"], month_start=start,
                         step_ids=[])
        figures["send_backlog"] = send_backlog(session, now, business_id=None)
        each = per_business(session, since=window["since"], until=window["until"])
    figures["goals"] = {"month": start.strftime("%Y-%m"), "qualified_this_month": figures.pop("qualified_this_month"),
                        "qualified_per_month": None, "progress": None}
    figures["businesses"] = [
        {"slug": b.slug, "name": b.name, "leads": b.leads, "first_response_minutes": {"p50": b.p50, "p90": b.p90},
         "qualified": b.qualified, "booked": b.booked, "qualification_rate": b.qualification_rate,
         "booking_rate": b.booking_rate} for b in each]
    return figures
