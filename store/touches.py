"""Touches: the follow-up schedule, one row per (lead, step), owned by the database.

A touch is *owed* while ``result`` is None or ``skipped_quiet_hours`` and ``next_attempt_at``
is set; it is *in flight* once its outbox message exists (``message_id``); its final
``result`` follows that message (sent, delivered, failed) or says why it never went
(skipped_no_template, cancelled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, or_, select, update
from sqlalchemy.orm import Session

from store.db import affected_rows
from store.models import Lead, Message, Touch

OPEN_RESULTS = (None, "skipped_quiet_hours")
"""A touch's ``result`` while it is still owed: never tried, or deferred past the lead's quiet hours."""
OWED = or_(Touch.result.is_(None), Touch.result == "skipped_quiet_hours")
""":data:`OPEN_RESULTS` as a SQL condition."""


def is_owed(touch: Touch) -> bool:
    """Whether ``touch`` is still owed and not yet in flight (no outbox message queued for it)."""
    return touch.result in OPEN_RESULTS and touch.message_id is None


def schedule(session: Session, *, lead_id: int, steps: list[tuple[str, datetime]], now: datetime) -> list[int]:
    """Create (or revive, when cancelled) a touch for each ``(step id, due_at)`` still in the future.

    Of the steps whose day has already passed and were never scheduled, only the most
    recent is scheduled, for now (a lead enrolled late catches up with one touch, not a
    burst); steps cancelled by a reply stay cancelled once past. Steps already sent,
    failed or skipped for want of a template are never scheduled again.
    Returns the ids of the touches now owed.
    """
    existing = {t.step: t for t in session.scalars(select(Touch).where(Touch.lead_id == lead_id))}
    business_id = session.scalar(select(Lead.business_id).where(Lead.id == lead_id))
    missed = [step for step, due_at in steps if due_at <= now and step not in existing]
    catch_up = missed[-1] if missed else None
    owed = []
    for number, (step, due_at) in enumerate(steps, start=1):
        touch = existing.get(step)
        if touch is not None and touch.result not in (None, "skipped_quiet_hours", "cancelled"):
            continue
        if step == catch_up:
            due_at = now
        elif due_at <= now and (touch is None or touch.result == "cancelled"):
            continue  # its day has passed
        if touch is None:
            touch = Touch(business_id=business_id, lead_id=lead_id, step=step, attempt_number=number, due_at=due_at)
            session.add(touch)
        touch.result, touch.next_attempt_at, touch.enqueued_at = None, max(due_at, touch.next_attempt_at or due_at), None
        touch.message_id = None
        owed.append(touch)
    session.flush()
    return [t.id for t in owed]


def cancel_owed(session: Session, *, lead_id: int) -> int:
    """Cancel every touch the lead is still owed, and those whose send was cancelled in flight; returns how many."""
    cancelled_send = exists().where(Message.id == Touch.message_id, Message.outbox_state == "cancelled")
    return affected_rows(
        session,
        update(Touch).where(Touch.lead_id == lead_id, OWED, or_(Touch.message_id.is_(None), cancelled_send))
        .values(result="cancelled", next_attempt_at=None)
        # No loaded Touch needs refreshing from this statement (callers re-read): skip the ORM's evaluation.
        .execution_options(synchronize_session=False)
    )


def to_enqueue(session: Session, *, until: datetime, overdue_before: datetime,
               limit: int = 20000) -> list[Row[int, datetime | None, str | None]]:
    """Owed touches the queue should hold: due before ``until`` and never enqueued, or overdue.

    Returns rows of ``(id, next_attempt_at, job_id)``, soonest first.
    """
    rows = session.execute(
        select(Touch.id, Touch.next_attempt_at, Touch.job_id)
        .where(OWED, Touch.message_id.is_(None), Touch.next_attempt_at.is_not(None), Touch.next_attempt_at <= until,
               or_(Touch.enqueued_at.is_(None), Touch.next_attempt_at < overdue_before))
        .order_by(Touch.next_attempt_at).limit(limit)
    )
    return list(rows)


def mark_enqueued(session: Session, *, touch_ids: list[int], at: datetime, job_id: str | None = None) -> None:
    """Record that these touches are in Redis, in the RQ job ``job_id``."""
    if touch_ids:
        session.execute(update(Touch).where(Touch.id.in_(touch_ids)).values(enqueued_at=at, job_id=job_id))


def record_message_outcome(session: Session, *, message_id: int, result: str, error_code: int | None = None) -> None:
    """Carry an outbox message's fate to its touch: sent, delivered, failed (with code) or cancelled.

    A touch's result only moves forward (sent → delivered / failed).
    """
    allowed = {"sent": (None,), "cancelled": (None,), "delivered": (None, "sent"), "failed": (None, "sent")}[result]
    condition = or_(*(Touch.result.is_(None) if r is None else Touch.result == r for r in allowed))
    values: dict[str, Any] = {"result": result}
    if error_code is not None:
        values["error_code"] = error_code
    session.execute(update(Touch).where(Touch.message_id == message_id, condition).values(**values))


def record_status_outcome(session: Session, *, twilio_sid: str, status: str, error_code: int | None) -> None:
    """Carry a final status callback (delivered, read, failed, undelivered) to the touch whose message it is.

    One UPDATE; other statuses (queued, sent…) cost nothing.
    """
    result = {"delivered": "delivered", "read": "delivered", "failed": "failed", "undelivered": "failed"}.get(status)
    if result is None:
        return
    values: dict[str, Any] = {"result": result}
    if error_code is not None:
        values["error_code"] = error_code
    session.execute(
        update(Touch)
        .where(Touch.message_id == select(Message.id).where(Message.twilio_sid == twilio_sid).scalar_subquery(),
               or_(Touch.result.is_(None), Touch.result == "sent"))
        .values(**values))




def due_times(session: Session, *, touch_ids: list[int]) -> dict[int, datetime | None]:
    """Each touch's ``next_attempt_at`` (UTC), by id; ids not found are left out."""
    rows = session.execute(select(Touch.id, Touch.next_attempt_at).where(Touch.id.in_(touch_ids))).all()
    return {row.id: row.next_attempt_at for row in rows}


def message_of(session: Session, *, touch_id: int) -> int | None:
    """The outbox row touch ``touch_id`` queued, if any."""
    return session.scalar(select(Touch.message_id).where(Touch.id == touch_id))


def lock_batch(session: Session, *, touch_ids: list[int]) -> list[Touch]:
    """Touches ``touch_ids`` locked for this transaction (``FOR UPDATE`` on Postgres), in id order."""
    return list(session.scalars(select(Touch).where(Touch.id.in_(touch_ids)).order_by(Touch.id).with_for_update(of=Touch)))
