"""The dashboard's two pages of one business (the request's, :func:`web.dashboard.blueprint.runtime`): the work
queue (the reps' list of leads, :mod:`store.work_queue`) and a lead, with the template filters they use. A lead
of another business is a 404, as one that does not exist.

The work queue's ``page`` is bounded (1 to :data:`MAX_PAGE`) so its offset fits a 32-bit count.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from sqlalchemy.orm import Session

from cadence.clock import next_call_opening
from graph.texts import display
from runtime import Runtime
from store.bounds import MAX_COUNT, bounded_int
from store.drafts import pending_draft
from store.leads import CLOSED_STATUSES
from store.models import LEAD_STATUSES, LOST_REASONS, Lead, utcnow
from store.work_queue import timeline, work_queue
from web.dashboard.blueprint import bp, runtime

PAGE_SIZE = 100
"""Leads on one page of the work queue."""
MAX_PAGE = MAX_COUNT // PAGE_SIZE
"""Highest work-queue page: its ``OFFSET`` (``(page - 1) * PAGE_SIZE``) stays within a 32-bit count."""


@bp.app_template_filter("localtime")
def localtime(value: Any, zone: str) -> str:
    """A UTC instant in the lead's (or business's) zone, e.g. ``Nov 23 09:00 MST``."""
    return value.astimezone(ZoneInfo(zone)).strftime("%b %d %H:%M %Z")


@bp.app_template_filter("answer")
def answer(value: Any) -> str:
    """A stored answer as a person reads it (``yes`` for True)."""
    return display(value)


@bp.get("")
@bp.get("/")
def work_queue_page() -> str:
    """The work queue: score, then last activity; filters ``status`` and ``owner``; ``page`` from 1 (a page
    that is not a number from 1 to :data:`MAX_PAGE` is read as 1)."""
    rt = runtime()
    status = request.args.get("status", "open")
    if status not in ("open", "all", *LEAD_STATUSES):
        status = "open"
    owner = request.args.get("owner") or None
    try:
        page = bounded_int(request.args.get("page", "1"), low=1, high=MAX_PAGE)
    except ValueError:
        page = 1
    with rt.sessions() as db:
        rows, total = work_queue(db, business_id=rt.business.id, status=status, owner=owner, limit=PAGE_SIZE,
                                 offset=(page - 1) * PAGE_SIZE)
        now = utcnow()
        items = [{"lead": r.lead, "next_touch_at": r.next_touch_at, "call_now": call_now(rt, r.lead, now)} for r in rows]
        return render_template("dashboard/work_queue.html", items=items, total=total, page=page,
                               pages=max(1, -(-total // PAGE_SIZE)), status=status, owner=owner or "",
                               statuses=LEAD_STATUSES, reps=[r.name for r in rt.playbook.reps],
                               business=rt.playbook.business)


def call_now(rt: Runtime, lead: Lead, now: datetime) -> bool:
    """Hot (score at or over ``scoring.hot_at``), still to be booked, and inside the call window in the lead's time."""
    if lead.status != "qualified" or (lead.score_total or 0) < rt.playbook.scoring.hot_at:
        return False
    zone = lead.timezone or rt.playbook.business.timezone
    return next_call_opening(now, zone, rt.playbook.cadence.call_window) == now


def lead_or_404(db: Session, lead_id: int, *, business_id: int) -> Lead:
    """Lead ``lead_id`` of business ``business_id``; none, or another business's, and the request ends in a 404
    (the same answer: a lead id of another business tells nothing)."""
    lead = db.get(Lead, lead_id)
    if lead is None or lead.business_id != business_id:
        abort(404)
    return lead


@bp.get("/leads/<row_id:lead_id>")
def lead_page(lead_id: int) -> str:
    """A lead: score breakdown, route state, the whole timeline, and the actions."""
    rt = runtime()
    with rt.sessions() as db:
        lead = lead_or_404(db, lead_id, business_id=rt.business.id)
        draft = pending_draft(db, business_id=lead.business_id, lead_id=lead_id)
        entries = timeline(db, lead_id, business_id=rt.business.id)
        return render_template("dashboard/lead.html", lead=lead, entries=entries, draft=draft,
                               call_now=call_now(rt, lead, utcnow()), lost_reasons=LOST_REASONS,
                               reps=[r.name for r in rt.playbook.reps], closed=lead.status in CLOSED_STATUSES,
                               nonce=secrets.token_urlsafe(12), questions=rt.playbook.questions,
                               business=rt.playbook.business)
