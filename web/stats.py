"""``GET /stats``: the owner report as JSON (Bearer ``STATS_TOKEN``).

Query: ``since`` and ``until``, ISO 8601 (a date, or a date-time with or without a zone;
no zone means UTC), between 1970 and 2200 (``store.bounds.parse_instant``). 422 names a
parameter that does not parse or is out of that range, or a window that ends before it starts.
Every figure and its unit is listed in the README's owner section.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request

from store.bounds import EARLIEST, LATEST, parse_instant
from store.models import utcnow
from store.stats import report, send_backlog
from web.auth import bearer

bp = Blueprint("stats", __name__)

WINDOW_HINT = f"expected ISO 8601 between {EARLIEST.year} and {LATEST.year}, e.g. 2026-11-01 or 2026-11-01T00:00:00Z"


def month_start(now: datetime, zone: str) -> datetime:
    """The first instant of ``now``'s calendar month in ``zone``, as UTC. ``now`` is the server's clock, never a
    request's instant (those are bounded by ``store.bounds`` and only filter rows)."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


@bp.get("/stats")
@bearer("stats_token")
def stats() -> tuple[Any, int]:
    """The owner report for the window."""
    window: dict[str, datetime | None] = {}
    errors = []
    for name in ("since", "until"):
        raw = request.args.get(name)
        try:
            window[name] = parse_instant(raw) if raw else None
        except ValueError:
            errors.append({"field": name, "message": WINDOW_HINT})
    if not errors and window["since"] and window["until"] and window["until"] <= window["since"]:
        errors.append({"field": "until", "message": "must be after since"})
    if errors:
        return jsonify({"error": "invalid window", "fields": errors}), 422
    rt = current_app.extensions["leadline"]
    playbook = rt.playbook
    now = utcnow()
    start = month_start(now, playbook.business.timezone)
    with rt.sessions() as session:
        figures = report(session, since=window["since"], until=window["until"], month_start=start,
                         step_ids=[s.id for s in playbook.cadence.steps])
        figures["send_backlog"] = send_backlog(session, now)
    goal = playbook.goals.qualified_per_month
    figures["goals"] = {
        "month": start.astimezone(ZoneInfo(playbook.business.timezone)).strftime("%Y-%m"),
        "qualified_this_month": figures.pop("qualified_this_month"),
        "qualified_per_month": goal,
    }
    figures["goals"]["progress"] = round(figures["goals"]["qualified_this_month"] / goal, 4) if goal else None
    figures["window"] = {k: v.isoformat() if v else None for k, v in window.items()}
    figures["generated_at"] = now.isoformat()
    return jsonify(figures), 200
