"""The owner report's figures, each computed by the database with SQL aggregates.

Works the same on SQLite and Postgres: elapsed time has a compiled form per dialect, and
percentiles use the ``CUME_DIST()`` window function both have (nearest-rank: the p-th
percentile is the smallest value with at least p of the values at or below it).

Window: ``since`` (inclusive) to ``until`` (exclusive), both UTC. Lead figures count
leads captured in the window; touch figures count touches attempted in it.

Business: every figure is of one business (``business_id``), or of every business together when it is None
(the agency's totals); per-business figures side by side are :mod:`store.overview`'s.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Float, SQLColumnExpression, and_, case, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from store.inbound import dead_letter_count
from store.models import LEAD_STATUSES, LOST_REASONS, CaptureEvent, Lead, LlmCall, Message, Touch


class minutes_between(FunctionElement[float]):
    """``minutes_between(later, earlier)``: elapsed minutes as a float, computed by the database."""

    type = Float()
    inherit_cache = True
    name = "minutes_between"


@compiles(minutes_between, "sqlite")
def _minutes_sqlite(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 1440.0)"


@compiles(minutes_between)
def _minutes_default(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 60.0)"


def _in_window(column: SQLColumnExpression[datetime | None], since: datetime | None,
               until: datetime | None) -> ColumnElement[bool]:
    conditions = [column >= since] if since else []
    if until:
        conditions.append(column < until)
    return and_(True, *conditions)


def of_business(column: SQLColumnExpression[int], business_id: int | None) -> ColumnElement[bool]:
    """``column = business_id``; always true when ``business_id`` is None (every business)."""
    return and_(True) if business_id is None else column == business_id


def percentiles(session: Session, values: SQLColumnExpression[float | None], where: ColumnElement[bool],
                ps: tuple[float, ...]) -> list[float | None]:
    """Nearest-rank percentiles ``ps`` (0–1) of the expression ``values`` over the rows matching ``where``.

    Postgres: ``percentile_disc`` (the nearest-rank percentile: the first value whose cumulative distribution
    reaches ``p``), one sort; ~6 times faster on 100,000 leads than the window function SQLite needs.
    """
    if session.get_bind().dialect.name == "postgresql":  # every p from one sort: percentile_disc(ARRAY[…])
        every = type_coerce(func.percentile_disc(postgresql.array(list(ps))).within_group(values),
                            postgresql.ARRAY(Float))
        found = session.scalar(select(every).where(where, values.is_not(None)))
        return [None if v is None else round(float(v), 2) for v in (found or [None] * len(ps))]
    ranked = (select(values.label("v"), func.cume_dist().over(order_by=values).label("cd"))
              .where(where, values.is_not(None)).subquery())
    row = session.execute(select(*[func.min(case((ranked.c.cd >= p, ranked.c.v))) for p in ps])).one()
    return [None if v is None else round(float(v), 2) for v in row]


def first_response(session: Session, since: datetime | None, until: datetime | None, *,
                   business_id: int | None) -> dict[str, Any]:
    """Minutes from capture to the first outbound message handed to Twilio: p50, p90, how many, how many late."""
    window = and_(_in_window(Lead.created_at, since, until), of_business(Lead.business_id, business_id))
    minutes = minutes_between(Lead.first_response_at, Lead.created_at)
    p50, p90 = percentiles(session, minutes, window, (0.5, 0.9))
    answered, late = session.execute(select(
        func.count(Lead.first_response_at),
        func.coalesce(func.sum(case((Lead.first_response_at > Lead.first_response_due_at, 1), else_=0)), 0),
    ).where(window)).one()
    return {"p50": p50, "p90": p90, "answered": answered, "late": int(late)}


def _grouped(session: Session, key: SQLColumnExpression[str | None], value: SQLColumnExpression[Any],
             where: ColumnElement[bool]) -> dict[str, Any]:
    return {str(k): v for k, v in session.execute(select(key, value).where(where).group_by(key)) if k is not None}


def report(session: Session, *, business_id: int | None, since: datetime | None, until: datetime | None,
           month_start: datetime, step_ids: list[str]) -> dict[str, Any]:
    """Every figure of ``GET /stats`` (see the README's owner section for units and meaning), of business
    ``business_id``, or of every business together when it is None.

    ``month_start`` is the start of the current month in the business's time zone (UTC);
    ``step_ids`` the playbook's cadence steps, reported in that order (with zeros).
    """
    mine = of_business(Lead.business_id, business_id)
    window = and_(_in_window(Lead.created_at, since, until), mine)
    by_status, value_by_status = {}, {}
    for status, count, value in session.execute(select(Lead.status, func.count(), func.sum(Lead.estimated_value_usd))
                                                .where(window).group_by(Lead.status)):
        by_status[status], value_by_status[status] = count, value
    total = sum(by_status.values())
    lost = _grouped(session, Lead.lost_reason, func.count(), and_(window, Lead.lost_reason.is_not(None)))
    lost["duplicate"] = lost.get("duplicate", 0) + session.scalar(
        select(func.count()).select_from(CaptureEvent)
        .where(CaptureEvent.duplicate.is_(True), _in_window(CaptureEvent.received_at, since, until),
               of_business(CaptureEvent.business_id, business_id)))
    qualified, booked, qualified_this_month = session.execute(select(  # one pass over the business's leads
        func.count(Lead.qualified_at).filter(window), func.count(Lead.booked_at).filter(window),
        func.count().filter(Lead.qualified_at >= month_start)).select_from(Lead).where(mine)).one()
    return {
        "leads": {
            "total": total,
            "by_status": {s: by_status.get(s, 0) for s in LEAD_STATUSES},
            "by_source": _grouped(session, Lead.source, func.count(), window),
            "by_channel": _grouped(session, Lead.channel, func.count(), window),
        },
        "first_response_minutes": first_response(session, since, until, business_id=business_id),
        "estimated_value_usd": {
            "by_status": {s: _usd(value_by_status.get(s)) for s in LEAD_STATUSES},
            "total": _usd(sum((v for v in value_by_status.values() if v is not None), Decimal(0))),
        },
        "lost_reasons": {r: lost.get(r, 0) for r in LOST_REASONS},
        "qualified": qualified,
        "booked": booked,
        "qualification_rate": round(qualified / total, 4) if total else None,
        "booking_rate": round(booked / total, 4) if total else None,
        "touches": touches_by_step(session, since, until, step_ids, business_id=business_id),
        "qualified_this_month": qualified_this_month,
        "llm": model_usage(session, since, until, business_id=business_id),
        "dead_letters": dead_letter_count(session, business_id=business_id, since=since, until=until),
    }


def send_backlog(session: Session, now: datetime, *, business_id: int | None) -> dict[str, Any]:
    """Outbound messages of business ``business_id`` (None: of every business) not yet handed to Twilio, per
    sender (its Messaging Service SID, else its ``From``).

    Returns ``{"total": n, "senders": {sender: {"waiting", "held", "oldest_s", "clears_in_s"}}}``:
    ``waiting`` rows pending or being sent, of which ``held`` wait for a later slot (``send_after``:
    the sender's ``TWILIO_MPS``, or quiet hours); ``oldest_s`` the age of the oldest, and ``clears_in_s``
    when the last held one is due, both in seconds from ``now`` (UTC). Twilio queues only ~4 hours of a
    sender's messages (its "queue window"), so a burst larger than that waits here, in the outbox, instead.
    Not limited to the report's window: this is now.
    """
    sender = func.coalesce(Message.messaging_service_sid, Message.from_address)
    rows = session.execute(
        select(sender, func.count(), func.sum(case((Message.send_after > now, 1), else_=0)),
               func.min(Message.created_at), func.max(Message.send_after))
        .where(Message.outbox_state.in_(("pending", "claimed")), of_business(Message.business_id, business_id))
        .group_by(sender))
    senders = {}
    for name, waiting, held, oldest, last_slot in rows:
        senders[name or "unset"] = {
            "waiting": waiting, "held": int(held or 0),
            "oldest_s": round(max(0.0, (now - oldest).total_seconds()), 1) if oldest else None,
            "clears_in_s": round(max(0.0, (last_slot - now).total_seconds()), 1) if last_slot else 0.0,
        }
    return {"total": sum(s["waiting"] for s in senders.values()), "senders": senders}


def model_usage(session: Session, since: datetime | None, until: datetime | None, *,
                business_id: int | None) -> dict[str, Any]:
    """Language-model calls made in the window: how many by purpose and outcome, tokens, latency p50/p90 (ms)."""
    window = and_(_in_window(LlmCall.created_at, since, until), of_business(LlmCall.business_id, business_id))
    calls: dict[str, dict[str, int]] = {}
    for purpose, outcome, count in session.execute(
            select(LlmCall.purpose, LlmCall.outcome, func.count()).where(window).group_by(LlmCall.purpose, LlmCall.outcome)):
        calls.setdefault(purpose, {})[outcome] = count
    prompt, completion = session.execute(select(func.coalesce(func.sum(LlmCall.prompt_tokens), 0),
                                                func.coalesce(func.sum(LlmCall.completion_tokens), 0)).where(window)).one()
    p50, p90 = percentiles(session, LlmCall.latency_ms, window, (0.5, 0.9))
    return {"calls": calls, "prompt_tokens": int(prompt), "completion_tokens": int(completion),
            "latency_ms": {"p50": p50, "p90": p90}}


def touches_by_step(session: Session, since: datetime | None, until: datetime | None,
                    step_ids: list[str], *, business_id: int | None) -> dict[str, dict[str, int]]:
    """Per cadence step, of the touches attempted in the window: sent (handed to Twilio), delivered
    (or read), failed (refused or undelivered), skipped (quiet hours, no template) and replied_after
    (the lead wrote after the touch)."""
    delivered = Message.status.in_(("delivered", "read"))
    failed = or_(Touch.result == "failed", Message.status.in_(("failed", "undelivered")))
    rows = session.execute(
        select(Touch.step,
               func.count(Message.sent_at),
               func.sum(case((delivered, 1), else_=0)),
               func.sum(case((failed, 1), else_=0)),
               func.sum(case((Touch.result.like("skipped%"), 1), else_=0)),
               func.sum(case((Lead.last_inbound_at > Touch.attempted_at, 1), else_=0)))
        .join(Lead, Lead.id == Touch.lead_id)
        .outerjoin(Message, Message.id == Touch.message_id)
        .where(Touch.attempted_at.is_not(None), _in_window(Touch.attempted_at, since, until),
               of_business(Touch.business_id, business_id))
        .group_by(Touch.step))
    found = {step: dict(zip(("sent", "delivered", "failed", "skipped", "replied_after"), (int(v or 0) for v in rest),
                                  strict=True))
             for step, *rest in rows}
    empty = dict.fromkeys(("sent", "delivered", "failed", "skipped", "replied_after"), 0)
    return {**{s: found.get(s, dict(empty)) for s in step_ids}, **found}


def _usd(value: Any) -> float:
    return float(value or 0)


def message_counts(session: Session) -> list[tuple[str, str, int]]:
    """``(direction, status, count)`` of every message of every business now (``/metrics``: the deployment's
    totals); a row with no Twilio status counts by its outbox state, an inbound one as ``received``."""
    status = func.coalesce(Message.status, Message.outbox_state, "received")
    rows = session.execute(select(Message.direction, status, func.count()).group_by(Message.direction, status))
    return [(direction, state, count) for direction, state, count in rows]


def lead_counts(session: Session) -> list[tuple[str, int]]:
    """``(status, count)`` of every lead of every business now (``/metrics``: the deployment's totals)."""
    return [(state, count) for state, count in session.execute(select(Lead.status, func.count()).group_by(Lead.status))]
