"""The reps' work queue and a lead's timeline, read for the dashboard.

The work queue is sorted by score (highest first, unscored last), then by last activity
(newest first): the seeds' prioritisation (score_total, then recency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, or_, select
from sqlalchemy.orm import Session

from store.leads import CLOSED_STATUSES
from store.models import Activity, Lead, Message, Touch


@dataclass(frozen=True)
class WorkQueueRow:
    """One lead in the work queue, with its next owed touch (UTC) if any."""

    lead: Lead
    next_touch_at: datetime | None


def owed_touch_at() -> ScalarSelect[datetime | None]:
    """Correlated subquery: the lead's next owed touch time."""
    return (select(func.min(Touch.next_attempt_at))
            .where(Touch.lead_id == Lead.id, or_(Touch.result.is_(None), Touch.result == "skipped_quiet_hours"))
            .correlate(Lead).scalar_subquery())


def work_queue(session: Session, *, business_id: int, status: str = "open", owner: str | None = None,
               limit: int = 100, offset: int = 0) -> tuple[list[WorkQueueRow], int]:
    """Business ``business_id``'s leads for the work-queue page and how many match in all.

    ``status``: ``open`` (not closed), ``all``, or one lead status. ``owner``: a rep's name,
    ``unassigned``, or None for everyone.
    """
    where: list[ColumnElement[bool]] = [Lead.business_id == business_id]
    if status == "open":
        where.append(Lead.status.not_in(CLOSED_STATUSES))
    elif status != "all":
        where.append(Lead.status == status)
    if owner == "unassigned":
        where.append(Lead.owner.is_(None))
    elif owner:
        where.append(Lead.owner == owner)
    total = session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0
    rows = session.execute(
        select(Lead, owed_touch_at()).where(*where)
        .order_by(Lead.score_total.desc().nulls_last(), Lead.last_activity_at.desc().nulls_last(), Lead.id.desc())
        .limit(limit).offset(offset))
    return [WorkQueueRow(lead, at) for lead, at in rows], total


@dataclass(frozen=True)
class Entry:
    """One line of a lead's timeline."""

    at: datetime
    kind: str
    """``inbound``, ``outbound``, ``status_change``, ``touch``, ``note``, or another activity kind."""
    text: str
    detail: dict[str, Any]


def timeline(session: Session, lead_id: int, *, business_id: int) -> list[Entry]:
    """Messages (with their delivery status), status changes, touches and notes of lead ``lead_id`` of business
    ``business_id`` (another business's lead has none), oldest first."""
    entries = []
    for m in session.scalars(select(Message).where(Message.lead_id == lead_id, Message.business_id == business_id)):
        body = m.body if m.body is not None else (f"[template {m.content_sid}]" if m.content_sid else "[media]")
        state = m.status or m.outbox_state or ("received" if m.direction == "inbound" else "")
        entries.append(Entry(m.sent_at or m.created_at, m.direction, body, {
            "message_kind": m.kind, "status": state, "error_code": m.error_code, "to": m.to_address}))
    for a in session.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.business_id == business_id)):
        if a.kind == "message":
            continue  # the message itself is on the timeline
        entries.append(Entry(a.created_at, a.kind, describe(a), dict(a.data)))
    for t in session.scalars(select(Touch).where(Touch.lead_id == lead_id, Touch.business_id == business_id,
                                                 Touch.result.is_(None))):
        entries.append(Entry(t.next_attempt_at or t.due_at, "touch_owed", f"Touch {t.step} due", {"step": t.step}))
    return sorted(entries, key=lambda e: e.at)


def describe(activity: Activity) -> str:
    """A timeline entry in words."""
    d = activity.data
    by = f" by {d['by']}" if d.get("by") else ""
    match activity.kind:
        case "status_change":
            reason = f" ({d['reason']})" if d.get("reason") else ""
            return f"Status {d.get('from')} → {d.get('to')}{reason}"
        case "touch":
            return f"Touch {d.get('step')}: {d.get('result')}" + (f" ({d['why']})" if d.get("why") else "")
        case "note":
            return f"{d.get('text', '')}{by}"
        case "assigned":
            return f"Assigned to {d.get('owner')} ({d.get('dispatcher')})"
        case "capture":
            return f"Captured from {d.get('source')}" + (f" ({d['outcome']})" if d.get("outcome") else "")
        case "enrolled":
            return f"Enrolled in the cadence ({d.get('why')}, {d.get('touches')} touches)"
        case "cadence_stopped":
            return f"Cadence stopped: {d.get('reason')}"
        case "booking":
            when = f" for {d['start_time']}" if d.get("start_time") else ""
            return f"Booking {d.get('event')}{when}{by}"
        case "take_over":
            return f"Conversation taken over{by}"
        case "hand_back":
            return f"Conversation handed back to the bot{by}"
        case "intent":
            return {"wants_human": "Asked for a person: handed to the rep", "angry": "Sounded upset: handed to the rep",
                    "wrong_number": "Said it is the wrong number",
                    "wrong_number_check": "Asked whether we reached the wrong person",
                    "opt_out": "Asked us to stop (opt-out in words)"}.get(
                str(d.get("intent")), f"Intent: {d.get('intent')}")
        case "crm_note":
            return f"CRM note: {d.get('text', '')}"
        case "draft_approved":
            return f"Draft {'edited and ' if d.get('edited') else ''}approved{by}"
    return activity.kind.replace("_", " ")
