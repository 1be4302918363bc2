"""The worker process: ``python -m cadence.worker`` (the Procfile's ``worker:``).

An RQ ``SimpleWorker`` (counting job outcomes for ``/metrics``) with the scheduler, plus the reconciler thread. SimpleWorker runs
jobs in this process instead of forking one per job: the engine, the checkpointer and
the compiled graph are built once, and a turn costs milliseconds instead of a fork.
"""

from __future__ import annotations

import sys
import threading

from pydantic import ValidationError
from rq import Queue
from rq.serializers import JSONSerializer

from bot.logs import configure_logging
from cadence import runtime
from cadence.job_metrics import CountingWorker
from cadence.reconcile import reconcile_forever
from cadence.redis_conn import connect
from graph.playbook import PlaybookError
from settings import Settings


def main() -> int:
    """Run the worker until SIGTERM/SIGINT; exit status 2 on a bad playbook or settings."""
    try:
        settings = Settings()
        configure_logging(settings.log_level)
        rt = runtime.build_runtime(settings)
    except (PlaybookError, ValidationError) as exc:
        print(f"leadline worker: cannot start: {exc}", file=sys.stderr)
        return 2
    runtime.install(rt)
    rt.graph  # open the checkpointer now: a bad DATABASE_URL should stop start-up, not the first job
    stop = threading.Event()
    threading.Thread(target=reconcile_forever, args=(rt, stop), name="reconciler", daemon=True).start()
    # The worker blocks on BLPOP for minutes; redis-py 8's default 5 s socket_timeout would break that
    # read every 5 s (and RQ backs off after each). A connection of its own, with no timeout set, lets
    # RQ give it one longer than its dequeue timeout.
    blocking = connect(settings.redis_url, settings.embedded_redis_path, socket_timeout=None)
    queue = Queue(settings.queue_name, connection=blocking, serializer=JSONSerializer)
    worker = CountingWorker([queue], connection=blocking, serializer=JSONSerializer)
    try:
        worker.work(with_scheduler=True, logging_level=settings.log_level.upper())
    finally:
        stop.set()
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
