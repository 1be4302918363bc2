"""Enrolling a lead in the follow-up cadence, stopping it, and putting due touches in Redis.

Enrolment: a lead silent mid-qualification for ``stall_after`` (found by the reconciler),
one that ends in nurture, and one qualified but not booked. Steps count from the lead's
capture. Stop conditions (the seeds' contract) are recorded on the lead: booked, replied,
not_serviceable, duplicate, opted_out, stale.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from rq import Queue, Retry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cadence.clock import scaled
from jobs.liveness import alive_jobs
from runtime import Runtime
from store import touches
from store.leads import add_activity
from store.models import CaptureEvent, Lead, utcnow

log = logging.getLogger(__name__)

STOP_REASONS = ("booked", "replied", "not_serviceable", "duplicate", "opted_out", "stale", "closed")
"""The seeds' stop conditions, plus ``closed``: a rep marked the lead won or lost, or took the conversation over."""
REACTIVATION_AFTER_DAYS = 30
"""A step this many days or more after capture (or named ``reactivation…``) goes only to dormant leads."""


def is_reactivation(step_id: str, after_s: float) -> bool:
    """Whether a step is the dormant-lead reactivation (the seeds' "Day 60+")."""
    return step_id.startswith("reactivation") or after_s >= REACTIVATION_AFTER_DAYS * 86400


def captured_at(session: Session, lead: Lead) -> datetime:
    """When the lead was last captured (its newest non-duplicate capture event, else its creation)."""
    latest = session.scalar(select(CaptureEvent.received_at).where(
        CaptureEvent.lead_id == lead.id, CaptureEvent.duplicate.is_(False)).order_by(CaptureEvent.id.desc()).limit(1))
    return latest or lead.created_at


def enroll(session: Session, rt: Runtime, lead: Lead, *, why: str, now: datetime | None = None) -> list[int]:
    """Schedule the playbook's steps for ``lead`` (those still in the future); returns the owed touch ids."""
    now = now or utcnow()
    start = captured_at(session, lead)
    per_day = rt.settings.cadence_seconds_per_day
    steps = [(s.id, start + scaled(s.after_s, per_day)) for s in rt.playbook.cadence.steps]
    owed = touches.schedule(session, lead_id=lead.id, steps=steps, now=now)
    lead.enrolled_at, lead.stop_reason = now, None
    add_activity(session, lead_id=lead.id, kind="enrolled", why=why, touches=len(owed))
    return owed


def stop(session: Session, lead: Lead, *, reason: str) -> int:
    """Cancel every owed touch and record why; returns how many were cancelled.

    Raises:
        ValueError: ``reason`` is not one of ``STOP_REASONS``.
    """
    if reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {reason!r}")
    cancelled = touches.cancel_owed(session, lead_id=lead.id)
    if cancelled or (lead.enrolled_at is not None and lead.stop_reason is None):
        lead.stop_reason = reason
        add_activity(session, lead_id=lead.id, kind="cadence_stopped", reason=reason, cancelled=cancelled)
    return cancelled


def enroll_stalled(rt: Runtime, *, lead_ids: list[int] | None = None, limit: int = 1000) -> list[int]:
    """Enroll leads silent mid-qualification for ``stall_after`` (scaled); returns their owed touch ids.

    Mid-qualification: new or contacted, not yet scored, no rep has the conversation, cadence
    not stopped for good. A
    lead that replied after an earlier enrolment and went quiet again is enrolled again.
    """
    now = utcnow()
    cutoff = now - scaled(rt.playbook.cadence.stall_after_s, rt.settings.cadence_seconds_per_day)
    last_heard = func.coalesce(Lead.last_inbound_at, Lead.created_at)
    query = select(Lead).where(
        Lead.status.in_(("new", "contacted")), Lead.score_total.is_(None), Lead.taken_over_by.is_(None),
        or_(Lead.stop_reason.is_(None), Lead.stop_reason == "replied"),
        or_(Lead.enrolled_at.is_(None), Lead.enrolled_at < last_heard),
        last_heard <= cutoff,
    )
    if lead_ids is not None:
        query = query.where(Lead.id.in_(lead_ids))
    with rt.sessions.begin() as session:
        stalled = session.scalars(query.order_by(Lead.id).limit(limit)).all()
        owed = []
        for lead in stalled:
            owed += enroll(session, rt, lead, why="stalled", now=now)
    return owed


TOUCH_BATCH_MAX = 200
"""Touches per RQ job at most: 10,000 touches due in one second are 50 jobs, shared by every worker,
each running ``TOUCH_CONCURRENCY`` sends at a time (``jobs.conversation.run_touches``)."""
TOUCH_BATCH_TIMEOUT_S = 1800
"""Longest a batch job may run, seconds. Its touches share the process's touch threads with every other
batch, so under a backlog it mostly waits its turn (each send has its own Twilio timeout)."""
TOUCH_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
"""Back-off between attempts of a touch job that failed (database or Redis down), seconds."""


def enqueue_touches(queue: Queue, touch_ids: list[int], when: datetime, *, job_id: str | None = None) -> str:
    """Put one RQ job running touches ``touch_ids`` (due at ``when``, UTC) in Redis; returns its job id.

    The job carries ids only; results are not kept (Redis holds only what is due next). The
    default id ``touches-<epoch second>-<first id>`` is the same when the reconciler enqueues
    the same batch again, so a re-enqueue replaces rather than duplicates it.
    """
    job_id = job_id or f"touches-{int(when.timestamp())}-{min(touch_ids)}"
    kwargs = dict(job_id=job_id, result_ttl=0, failure_ttl=86400, retry=TOUCH_RETRY, job_timeout=TOUCH_BATCH_TIMEOUT_S,
                  description=f"{len(touch_ids)} touch{'es' if len(touch_ids) != 1 else ''}")
    if when <= utcnow():
        queue.enqueue("jobs.conversation.run_touches", list(touch_ids), **kwargs)
    else:
        queue.enqueue_at(when, "jobs.conversation.run_touches", list(touch_ids), **kwargs)
    return job_id


def enqueue_touch(queue: Queue, touch_id: int, when: datetime) -> str:
    """Put touch ``touch_id`` alone in Redis, to run at ``when`` (UTC); returns the job id (``touch-<id>``,
    never one of a batch's, so it cannot replace a batch that holds other touches)."""
    return enqueue_touches(queue, [touch_id], when, job_id=f"touch-{touch_id}")


def dispatch(rt: Runtime, touch_ids: list[int] | None = None) -> int:
    """Enqueue owed touches due within TOUCH_HORIZON_S (and overdue ones whose job was lost), in batches
    of up to ``TOUCH_BATCH_MAX`` per due second.

    With ``touch_ids``, only those (just scheduled); without, every such touch (the
    reconciler's sweep). Returns how many were enqueued.
    """
    now = utcnow()
    until = now + timedelta(seconds=rt.settings.touch_horizon_s)
    overdue = now - timedelta(seconds=rt.settings.reconcile_grace_s)
    with rt.sessions.begin() as session:
        rows = touches.to_enqueue(session, until=until, overdue_before=overdue)
        if touch_ids is not None:
            wanted = set(touch_ids)
            rows = [r for r in rows if r.id in wanted]
        lost = [r for r in rows if r.next_attempt_at < overdue]
        if lost:  # overdue and owed: enqueue again only if Redis no longer has a live job for it
            job_ids = {r.id: r.job_id or f"touch-{r.id}" for r in lost}
            alive = alive_jobs(rt.redis, list(job_ids.values()), rt.settings.job_timeout_s)
            rows = [r for r in rows if job_ids.get(r.id) not in alive]
        batches: dict[int, list] = {}
        for row in rows:
            batches.setdefault(int(row.next_attempt_at.timestamp()), []).append(row)
        for _second, group in sorted(batches.items()):
            for start in range(0, len(group), TOUCH_BATCH_MAX):
                chunk = group[start:start + TOUCH_BATCH_MAX]
                ids = [r.id for r in chunk]
                job_id = enqueue_touches(rt.queue, ids, min(r.next_attempt_at for r in chunk))
                touches.mark_enqueued(session, touch_ids=ids, at=now, job_id=job_id)
    return len(rows)
