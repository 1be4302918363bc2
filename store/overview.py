"""Every business side by side, for the agency: leads, speed-to-lead p50/p90, qualification and booking rates.

Two queries whatever the number of businesses (three on SQLite): the businesses, then every figure ``GROUP BY
business_id``. Percentiles are nearest-rank, as :func:`store.stats.percentiles`: Postgres's ``percentile_disc``
(the first value at or past the fraction), SQLite's ``CUME_DIST()`` partitioned by business. ``bench/overview.py``
measures it: 1,000 businesses and 100,000 leads in ~50 ms on Postgres (the covering index of migration 0009).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from store.models import Lead
from store.stats import minutes_between
from store.tenancy import Business


@dataclass(frozen=True)
class Choice:
    """A business an agency admin can switch to: its id, handle and name."""

    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class BusinessFigures:
    """One business's figures over the leads captured in a window.

    Attributes:
        id, slug, name: the business.
        leads: leads captured.
        p50, p90: minutes from capture to the first message handed to Twilio (speed-to-lead), nearest-rank
            percentiles; None when no lead got one.
        qualified, booked: of those leads, how many reached ``qualified``; how many have a current booking.
        qualification_rate, booking_rate: ``qualified / leads`` and ``booked / leads``, 0–1 (4 decimals); None
            with no leads.
    """

    id: int
    slug: str
    name: str
    leads: int = 0
    p50: float | None = None
    p90: float | None = None
    qualified: int = 0
    booked: int = 0

    @property
    def qualification_rate(self) -> float | None:
        return round(self.qualified / self.leads, 4) if self.leads else None

    @property
    def booking_rate(self) -> float | None:
        return round(self.booked / self.leads, 4) if self.leads else None


def choices(session: Session) -> list[Choice]:
    """The active businesses, by name then slug."""
    rows = session.execute(select(Business.id, Business.slug, Business.name).where(Business.active)
                           .order_by(Business.name, Business.slug))
    return [Choice(*row) for row in rows]


def per_business(session: Session, *, since: datetime | None = None,
                 until: datetime | None = None) -> list[BusinessFigures]:
    """The figures of every active business (none of its leads: zeros and Nones), by name then slug, over the
    leads captured in ``[since, until)`` (UTC; unbounded when None)."""
    window = and_(True, *([Lead.created_at >= since] if since else []), *([Lead.created_at < until] if until else []))
    found = _figures(session, window)
    figures = []
    for choice in choices(session):
        leads, qualified, booked, p50, p90 = found.get(choice.id, (0, 0, 0, None, None))
        figures.append(BusinessFigures(id=choice.id, slug=choice.slug, name=choice.name, leads=leads, qualified=qualified,
                                       booked=booked, p50=_minutes(p50), p90=_minutes(p90)))
    return figures


def _figures(session: Session, window: ColumnElement[bool]) -> dict[int, tuple[Any, ...]]:
    """``{business_id: (leads, qualified, booked, p50, p90)}`` of the businesses with leads in ``window``: one pass
    over the leads on Postgres (``percentile_disc``, which skips the leads never answered); on SQLite, the counts,
    then the percentiles through a window function."""
    minutes = minutes_between(Lead.first_response_at, Lead.created_at)
    counts = (func.count(), func.count(Lead.qualified_at), func.count(Lead.booked_at))
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(select(Lead.business_id, *counts, func.percentile_disc(0.5).within_group(minutes),
                                      func.percentile_disc(0.9).within_group(minutes))
                               .where(window).group_by(Lead.business_id))
        return {business_id: tuple(rest) for business_id, *rest in rows}
    counted = session.execute(select(Lead.business_id, *counts).where(window).group_by(Lead.business_id)).all()
    ranked = (select(Lead.business_id.label("business_id"), minutes.label("v"),
                     func.cume_dist().over(partition_by=Lead.business_id, order_by=minutes).label("cd"))
              .where(window, Lead.first_response_at.is_not(None)).subquery())
    speeds = {business_id: (p50, p90) for business_id, p50, p90 in session.execute(
        select(ranked.c.business_id, func.min(case((ranked.c.cd >= 0.5, ranked.c.v))),
               func.min(case((ranked.c.cd >= 0.9, ranked.c.v))))
        .group_by(ranked.c.business_id))}
    return {business_id: (*rest, *speeds.get(business_id, (None, None))) for business_id, *rest in counted}


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
