"""Putting due touches in Redis: those due within ``TOUCH_HORIZON_S``, batched per due second, and overdue ones
whose job Redis lost. The database holds every later touch; the reconciler's sweep dispatches them in time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runtime import Runtime
from store import touches
from store.models import utcnow

TOUCH_BATCH_MAX = 200
"""Touches per RQ job at most: 10,000 touches due in one second are 50 jobs, shared by every worker,
each running ``TOUCH_CONCURRENCY`` sends at a time (``jobs.touches.run_touches``)."""


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
            alive = rt.jobs.alive(list(job_ids.values()))
            rows = [r for r in rows if job_ids.get(r.id) not in alive]
        batches: dict[int, list[Any]] = {}
        for row in rows:
            batches.setdefault(int(row.next_attempt_at.timestamp()), []).append(row)
        for _second, group in sorted(batches.items()):
            for start in range(0, len(group), TOUCH_BATCH_MAX):
                chunk = group[start:start + TOUCH_BATCH_MAX]
                ids = [r.id for r in chunk]
                job_id = rt.jobs.touches(ids, min(r.next_attempt_at for r in chunk))
                touches.mark_enqueued(session, touch_ids=ids, at=now, job_id=job_id)
    return len(rows)
