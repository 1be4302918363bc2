"""The worker process: ``python -m jobs.worker`` (the Procfile's ``worker:``).

``WORKER_THREADS`` job threads, each an RQ ``SimpleWorker`` of its own (``JobThread``), share
one runtime: the engine, the checkpointer and the compiled graph are built once, and a job
costs milliseconds instead of a fork. Threads, not processes, because a job spends most of
its time waiting: Twilio takes ~150 ms to answer a create, so a worker running one job at a
time sends about six messages a second, whatever the CPU. Each thread is a separate RQ
worker, so RQ's per-conversation rate limit (concurrency 1) still keeps one conversation's
turns in order across every thread of every machine.

Beside them run the scheduler thread (``jobs.scheduler``: whichever process holds the
lock moves due ``enqueue_at`` jobs to the queue) and the reconciler thread.

SIGTERM or SIGINT (a deploy, Ctrl-C): every thread finishes the job it is running, takes no
new one, and the process exits 0; a job cut short by a harder kill is run again by RQ's
started-job cleanup or the reconciler, and its sends are settled through the outbox.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from functools import partial
from typing import Any

from pydantic import ValidationError
from rq import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from bot.logs import configure_logging
from graph.playbook import PlaybookError
from jobs.metrics import CountingWorker
from jobs.process import build_runtime, install
from jobs.reconcile import reconcile_forever
from jobs.scheduler import schedule_forever
from jobs.touches import stop_touch_pool
from settings import Settings
from store.redis import connect

log = logging.getLogger(__name__)

POLL_S = 1
"""Longest a job thread blocks waiting for a job before it looks whether it should stop, seconds: a warm shutdown
takes about this long once the running jobs are done (16 idle threads poll Redis 16 times a second)."""
UNSUBSCRIBE_WAIT_S = 0.2
"""How long a stopping job thread waits for its pub/sub listener thread, seconds (a daemon left to end with the
process; waiting longer only delays the shutdown)."""


class JobThread(CountingWorker):
    """An RQ ``SimpleWorker`` run in a thread of the worker process.

    Job timeouts use RQ's ``TimerDeathPenalty`` (SIGALRM reaches only the main thread); the
    process's main thread owns SIGTERM/SIGINT and calls :meth:`stop_soon` on every thread.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        """Signals are the main thread's (Python delivers them only there)."""

    def stop_soon(self) -> None:
        """Finish the running job, if any, then leave ``work()`` (RQ's warm shutdown)."""
        self._stop_requested = True

    def unsubscribe(self) -> None:
        """RQ's unsubscribe from the worker's pub/sub channel, waiting at most ``UNSUBSCRIBE_WAIT_S`` for its
        listener thread.

        RQ (3.0) calls redis-py's ``PubSubWorkerThread.stop()``, which since redis-py 8 joins the thread with no
        bound; once unsubscribed, that thread sleeps out RQ's ``sleep_time`` (60 s) waiting for a subscription.
        A warm shutdown then took a minute, past a process manager's grace period (systemd's 90 s, Heroku's
        30 s). The listener is a daemon thread holding no job: it is left to end with the process."""
        if self.pubsub_thread is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        self.pubsub.unsubscribe()
        try:
            self.pubsub_thread.stop(timeout=UNSUBSCRIBE_WAIT_S)
        except TypeError:  # redis-py before 8.2: stop() takes no timeout and only asks the thread to end
            self.pubsub_thread.stop()

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        """RQ's dequeue, in ``POLL_S`` slices so a stop request is seen within ``POLL_S`` seconds."""
        while not self._stop_requested:
            result = super().dequeue_job_and_maintain_ttl(POLL_S, max_idle_time=POLL_S)
            if result is not None:
                return result
        return None


def main() -> int:
    """Run the worker until SIGTERM/SIGINT; exit status 2 on a bad playbook or settings."""
    try:
        settings = Settings()
        configure_logging(settings.log_level)
        rt = build_runtime(settings)
    except (PlaybookError, ValidationError) as exc:
        print(f"leadline worker: cannot start: {exc}", file=sys.stderr)
        return 2
    install(rt)
    _ = rt.graph  # open the checkpointer now: a bad DATABASE_URL should stop start-up, not the first job
    stop = threading.Event()
    _stop_on_signals(stop)
    blocking_redis = partial(connect, settings.redis_url, settings.embedded_redis_path, socket_timeout=None)
    helpers = [threading.Thread(target=reconcile_forever, args=(rt, stop), name="reconciler", daemon=True),
               threading.Thread(target=schedule_forever, args=(blocking_redis, settings.queue_name, stop),
                                name="scheduler", daemon=True)]
    for helper in helpers:
        helper.start()
    pool = [_job_thread(settings) for _ in range(settings.worker_threads)]
    log.info("worker started: %d job threads on queue %s", len(pool), settings.queue_name)
    try:
        while not stop.wait(1.0):
            for i, (worker, thread) in enumerate(pool):
                if not thread.is_alive():  # RQ leaves work() on a Redis timeout or an unexpected error
                    log.warning("job thread %s stopped; starting another", worker.name)
                    pool[i] = _job_thread(settings)
        for worker, _ in pool:
            worker.stop_soon()
        stop_touch_pool()  # a batch job waits only for its touches already running, not a whole backlog
        for _, thread in pool:
            thread.join()
        for helper in helpers:
            helper.join(timeout=5)
    finally:
        rt.close()
    log.info("worker stopped")
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop`` (running jobs finish); a second signal exits at once (the jobs then in flight
    are settled by the reconciler)."""

    def request_stop(signum: int, _frame: Any) -> None:
        if stop.is_set():
            log.warning("second %s: exiting without waiting for running jobs", signal.Signals(signum).name)
            raise SystemExit(1)
        log.info("%s: finishing running jobs, then exiting", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def _job_thread(settings: Settings) -> tuple[JobThread, threading.Thread]:
    """One RQ worker on a thread of its own, started. It blocks on BLPOP; redis-py's default 5 s socket_timeout
    would break that read, so each has a connection of its own with no timeout, and RQ gives it one longer than
    its wait."""
    conn = connect(settings.redis_url, settings.embedded_redis_path, socket_timeout=None)
    worker = JobThread([Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)],
                       connection=conn, serializer=JSONSerializer)
    thread = threading.Thread(target=worker.work, kwargs={"logging_level": settings.log_level.upper()},
                              name=f"job-{worker.name[:8]}", daemon=True)
    thread.start()
    return worker, thread


if __name__ == "__main__":
    sys.exit(main())
