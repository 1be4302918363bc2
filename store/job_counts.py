"""Job outcomes counted in Redis, so ``/metrics`` on any web process sees every worker's jobs.

Each finished job adds one to the hash ``leadline:metrics:jobs`` under the field
``<queue>|<job function>|<outcome>`` (outcome ``succeeded``, ``retried`` or ``failed``).
Redis counters survive worker restarts and sum over every machine; a Redis restart
without persistence starts them again from zero, which Prometheus's ``rate()`` handles as a reset.
"""

from __future__ import annotations

import logging

from redis import Redis

from store.redis import text

log = logging.getLogger(__name__)

JOBS_KEY = "leadline:metrics:jobs"


def count_job(redis: Redis, *, queue: str, func_name: str | None, outcome: str) -> None:
    """Add one to a job outcome counter (``func_name`` is RQ's, None for a job it could not read); a Redis error
    is logged, never raised into RQ."""
    job = func_name.rsplit(".", 1)[-1] if func_name else "unknown"
    try:
        redis.hincrby(JOBS_KEY, f"{queue}|{job}|{outcome}", 1)
    except Exception:
        log.warning("could not count a job outcome in Redis", exc_info=True)


def job_counts(redis: Redis) -> list[tuple[str, str, str, int]]:
    """Every ``(queue, job, outcome, count)`` counted so far."""
    rows: list[tuple[str, str, str, int]] = []
    for field, value in redis.hgetall(JOBS_KEY).items():
        queue, job, outcome = text(field).split("|")
        rows.append((queue, job, outcome, int(value)))
    return rows
