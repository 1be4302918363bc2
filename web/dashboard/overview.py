"""The agency admin's overview: every active business side by side, with its leads, speed-to-lead p50/p90
(minutes), qualification and booking rates, over a period (``days``: 7, 30, 90 or ``all``; 30 unless said).

Sorted on the server by ``sort``: a column of :data:`COLUMNS`, descending with a leading ``-`` (``-leads``, the
default, puts the busiest first); a business without a figure (no leads, none answered) comes last either way,
and ties keep the businesses' name order. The figures are :func:`store.overview.per_business`'s: one
``GROUP BY business_id``, whatever the number of businesses. A business's user gets a 404 here.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, g, render_template, request

from store.models import utcnow
from store.overview import BusinessFigures, per_business
from web.dashboard.blueprint import app_runtime, bp

COLUMNS = {"name": "Business", "leads": "Leads", "p50": "Speed to lead p50", "p90": "Speed to lead p90",
           "qualification_rate": "Qualified", "booking_rate": "Booked"}
"""Sortable columns and their headings."""
DEFAULT_SORT = "-leads"
PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}
"""``days`` choices: the leads captured in the last 7, 30 or 90 days, or all of them."""
DEFAULT_PERIOD = "30"


@bp.app_template_filter("speed")
def speed(minutes: float | None) -> str:
    """A speed-to-lead in minutes as a person reads it: ``45 s`` under a minute, else ``2.5 min``; ``–`` for none."""
    if minutes is None:
        return "–"
    return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:.1f} min"


def ordered(rows: list[BusinessFigures], sort: str) -> list[BusinessFigures]:
    """``rows`` (in name order) sorted by ``sort`` (a column, ``-`` first for descending); rows without that
    figure last; ties in their given order."""
    column, descending = sort.lstrip("-"), sort.startswith("-")
    present = [r for r in rows if getattr(r, column) is not None]
    missing = [r for r in rows if getattr(r, column) is None]
    present.sort(key=lambda r: r.name.casefold() if column == "name" else getattr(r, column), reverse=descending)
    return present + missing


def next_sort(column: str, sort: str) -> str:
    """The ``sort`` a column's heading links to: the other direction when the table is sorted by it, else
    ascending for the name and descending for a figure."""
    if sort.lstrip("-") == column:
        return column if sort.startswith("-") else f"-{column}"
    return column if column == "name" else f"-{column}"


@bp.get("/businesses")
def overview() -> str:
    """Every business's figures, sorted; agency admins only (else 404)."""
    if not g.viewer.account.agency:
        abort(404)
    sort = request.args.get("sort", DEFAULT_SORT)
    if sort.lstrip("-") not in COLUMNS:
        sort = DEFAULT_SORT
    days = request.args.get("days", DEFAULT_PERIOD)
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    period = PERIODS[days]
    since = utcnow() - timedelta(days=period) if period else None
    with app_runtime().sessions() as db:
        rows = ordered(per_business(db, since=since), sort)
    return render_template("dashboard/overview.html", rows=rows, sort=sort, days=days, periods=PERIODS,
                           columns=COLUMNS, next_sort=next_sort, total=sum(r.leads for r in rows))
