"""RQ's scheduler run as a thread of the worker process: moves ``enqueue_at`` jobs to the queue when due.

Every worker process runs one; a Redis lock (RQ's ``rq:scheduler-lock:<queue>``, TTL 61 s,
refreshed every second) lets exactly one of them schedule at a time. When the process holding
it dies, the lock expires and another process's thread takes it on its next try (every
second), so scheduling moves on within about 62 s of a crash, whatever machine it ran on.

RQ's own ``work(with_scheduler=True)`` forks the scheduler from the worker; a fork from a
process with job threads running could copy a lock another thread holds, so the same
``RQScheduler`` is driven here from a thread instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from redis import Redis
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
"""How often due jobs are moved to the queue and the lock is refreshed or tried, seconds."""


def schedule_forever(connect: Callable[[], Redis], queue_name: str, stop: threading.Event,
                     interval_s: float = INTERVAL_S) -> None:
    """Schedule ``queue_name``'s due jobs every ``interval_s`` while this process holds the lock; try to
    take it otherwise. Returns when ``stop`` is set, releasing the lock. Redis errors are logged and retried."""
    scheduler = RQScheduler([queue_name], connection=connect(), interval=1, serializer=JSONSerializer)
    holding = False
    while not stop.is_set():
        try:
            if not scheduler.acquired_locks:
                scheduler.acquire_locks()
            else:
                scheduler.heartbeat()  # refreshes the lock; drops it if another scheduler took it over
            if scheduler.acquired_locks:
                if not holding:
                    log.info("this worker process now schedules queue %s", queue_name)
                    scheduler.register_birth()
                scheduler.enqueue_scheduled_jobs()
            elif holding:
                log.warning("scheduling of queue %s was taken over by another worker", queue_name)
            holding = bool(scheduler.acquired_locks)
        except Exception:  # Redis down or restarting: try again next round
            log.warning("scheduler pass failed", exc_info=True)
        stop.wait(interval_s)
    try:
        scheduler.release_locks()
        scheduler.register_death()
    except Exception:
        log.warning("could not release the scheduler lock; it expires on its own", exc_info=True)
