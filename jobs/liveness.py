"""Whether an RQ job Redis holds will still run: how the reconciler tells a lost job from one waiting its turn."""

from __future__ import annotations

from redis import Redis
from rq.utils import utcparse

from store.models import utcnow


def job_alive(status: bytes | None, started_at: bytes | None, job_timeout_s: float) -> bool:
    """Whether an RQ job will still run, from its hash's ``status`` and ``started_at``: queued, scheduled,
    deferred or rate-limited, or started within its timeout (a job still "started" after that belonged to a
    worker that died, and RQ's own clean-up may be minutes away). A job Redis lost has no status."""
    if status in (None, b"failed", b"stopped", b"canceled", b"finished"):
        return False
    if status == b"started":
        if not started_at:
            return False
        age = (utcnow() - utcparse(started_at.decode())).total_seconds()
        return age < job_timeout_s + 60
    return True


def alive_jobs(redis: Redis, job_ids: list[str], job_timeout_s: float) -> set[str]:
    """The ids among ``job_ids`` whose RQ job will still run (:func:`job_alive`); one round trip to Redis."""
    if not job_ids:
        return set()
    with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(f"rq:job:{job_id}", "status", "started_at")
        replies = pipe.execute()
    return {job_id for job_id, (status, started_at) in zip(job_ids, replies, strict=True)
            if job_alive(status, started_at, job_timeout_s)}
