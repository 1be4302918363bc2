"""Running follow-up touches from jobs: a batch due in the same second (:func:`run_touches`), decided
together and handed to Twilio on this process's touch threads (:func:`touch_pool`)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from queue import Empty, SimpleQueue

from bot.delivery.result import SendResult
from bot.delivery.send import record_sends, send_unrecorded
from cadence.batch import prepare_batch
from cadence.touches import EARLY_WAIT, run_touch
from jobs.process import current
from jobs.sends import requeue
from runtime import Runtime
from store import touches as touch_rows
from store.models import utcnow
from store.sends import SentRecord

log = logging.getLogger(__name__)

_SendFuture = Future[tuple[SendResult, SentRecord | None]]
"""A send on the touch threads (:func:`bot.delivery.send.send_unrecorded`)."""


_touch_pool: ThreadPoolExecutor | None = None
_touch_pool_lock = threading.Lock()


def touch_pool(rt: Runtime) -> ThreadPoolExecutor:
    """This process's ``TOUCH_CONCURRENCY`` threads that run touches, shared by every batch job (so a worker
    with many job threads still holds a bounded number of database connections and Twilio calls)."""
    global _touch_pool
    with _touch_pool_lock:
        if _touch_pool is None:
            _touch_pool = ThreadPoolExecutor(rt.settings.touch_concurrency, thread_name_prefix="touch")
        return _touch_pool


def stop_touch_pool() -> None:
    """On shutdown: let the touches already running finish and drop those not started. They are still owed
    in the database; their batch job fails and is retried, or the reconciler enqueues them again."""
    with _touch_pool_lock:
        if _touch_pool is not None:
            _touch_pool.shutdown(wait=False, cancel_futures=True)


def run_touches(touch_ids: list[int]) -> dict[str, int]:
    """Job: run a batch of touches due in the same second; returns counts per :class:`bot.delivery.result.SendResult`
    value (``not_started`` for sends dropped by a stopping worker, ``error`` for those that raised).

    The batch is decided in one transaction per due instant (:func:`cadence.batch.prepare_batch`:
    locked, re-read, queued in the outbox in a handful of statements), each send is claimed and
    re-checked on its own right before its Twilio call on this process's touch threads
    (:func:`touch_pool`, since Twilio's API answers in ~150 ms), and the sends Twilio accepted are
    recorded together (:func:`bot.delivery.send.record_sends`). With a model configured each touch
    runs alone (:func:`cadence.touches.run_touch`), since each waits on its own personal draft.

    Raises:
        Exception: the first error a send raised (database or Redis down), after every other send ran,
            so RQ retries the batch; touches already done come back ``done`` at once.
    """
    rt = current()
    if rt.llm is not None:
        return _run_each(rt, touch_ids)
    with rt.sessions() as session:  # a touch without a due time is left out: it is ready at once, as a missing one
        due = {i: t for i, t in touch_rows.due_times(session, touch_ids=touch_ids).items() if t is not None}
    counts: dict[str, int] = {}
    sending = _Sends(rt, counts)
    waiting = list(touch_ids)
    try:
        while waiting:
            now = utcnow()
            # Decide what is due now, and what no pause of ours would make due (prepare_batch re-enqueues it).
            ready = [i for i in waiting if due.get(i) is None or not timedelta(0) < due[i] - now <= EARLY_WAIT]
            if not ready:  # RQ's scheduler works in whole seconds: the rest of this batch is due within a second
                sending.drain(until_s=min((due[i] - now).total_seconds() for i in waiting))
                continue
            taken = set(ready)
            waiting = [i for i in waiting if i not in taken]
            outcomes, message_ids = prepare_batch(rt, ready, now)
            for outcome in outcomes.values():
                if outcome.value != "sent":
                    counts[outcome.value] = counts.get(outcome.value, 0) + 1
            sending.submit(message_ids)
    finally:
        sending.drain()
    if sending.errors:
        raise sending.errors[0]
    return counts


class _Sends:
    """A batch's sends in flight on the touch threads, recorded together as they complete."""

    RECORD_EVERY = 64
    RECORD_WITHIN_S = 0.1
    """A completed send waits at most about this long for its record (the row stays claimed meanwhile), seconds."""

    def __init__(self, rt: Runtime, counts: dict[str, int]) -> None:
        self.rt, self.counts = rt, counts
        self.in_flight = 0
        self.completed: SimpleQueue[tuple[_SendFuture, int]] = SimpleQueue()
        self.records: list[SentRecord] = []
        self.oldest: float | None = None
        self.errors: list[BaseException] = []

    def submit(self, message_ids: list[int]) -> None:
        pool = touch_pool(self.rt)
        for message_id in message_ids:
            future = pool.submit(send_unrecorded, self.rt, message_id)
            self.in_flight += 1
            future.add_done_callback(partial(self._on_done, message_id))

    def _on_done(self, message_id: int, future: _SendFuture) -> None:
        """On a touch thread, as the send ends: hand it to :meth:`drain` on the job's thread."""
        self.completed.put((future, message_id))

    def drain(self, until_s: float | None = None) -> None:
        """Collect completed sends for ``until_s`` seconds, or until none is in flight (None)."""
        deadline = None if until_s is None else time.monotonic() + until_s
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is None:
                if not self.in_flight:
                    break
            elif left <= 0:
                break
            elif not self.in_flight:
                time.sleep(left)
                break
            try:
                future, message_id = self.completed.get(timeout=min(self.RECORD_WITHIN_S, left or self.RECORD_WITHIN_S))
            except Empty:
                pass
            else:
                self.in_flight -= 1
                self._collect(future, message_id)
            if self.records and (len(self.records) >= self.RECORD_EVERY or not self.in_flight
                                 or (self.oldest is not None and time.monotonic() - self.oldest >= self.RECORD_WITHIN_S)):
                self._record()
        self._record()

    def _collect(self, future: _SendFuture, message_id: int) -> None:
        try:
            sent, record = future.result()
        except CancelledError as exc:  # the worker is stopping: the send was never started; its row stays pending
            self.errors.append(exc)
            self._count("not_started")
            return
        except Exception as exc:
            log.warning("send of touch message %s failed: %s", message_id, exc)
            self.errors.append(exc)
            self._count("error")
            return
        if record is not None:
            self.records.append(record)
            self.oldest = self.oldest or time.monotonic()
        outcome = sent.for_touch()
        if outcome is SendResult.QUEUED:
            requeue(self.rt, message_id)
        self._count(outcome.value)

    def _record(self) -> None:
        if self.records:
            record_sends(self.rt, self.records)
            self.records, self.oldest = [], None

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def _run_each(rt: Runtime, touch_ids: list[int]) -> dict[str, int]:
    """Each touch on its own (:func:`cadence.touches.run_touch`) on the touch threads; counts per outcome."""
    pool = touch_pool(rt)
    futures = [pool.submit(run_one, rt, touch_id) for touch_id in touch_ids]
    counts: dict[str, int] = {}
    errors: list[BaseException] = []
    for touch_id, future in zip(touch_ids, futures, strict=True):
        try:
            outcome = future.result()
        except CancelledError as exc:  # the worker is stopping: the touch was never started
            errors.append(exc)
            outcome = "not_started"
        except Exception as exc:
            log.warning("touch %s failed: %s", touch_id, exc)
            errors.append(exc)
            outcome = "error"
        counts[outcome] = counts.get(outcome, 0) + 1
    if errors:
        raise errors[0]
    return counts


def run_one(rt: Runtime, touch_id: int) -> str:
    """Run touch ``touch_id`` now (:func:`cadence.touches.run_touch`); a send Twilio could not take yet is queued
    again. Returns what happened (a :class:`bot.delivery.result.SendResult` value)."""
    result = run_touch(rt, touch_id)
    if result is SendResult.QUEUED:
        with rt.sessions() as session:
            message_id = touch_rows.message_of(session, touch_id=touch_id)
        if message_id is not None:
            requeue(rt, message_id)
    return result.value
