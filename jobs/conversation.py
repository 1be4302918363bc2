"""RQ job entry points and the helpers that enqueue them. Jobs take ids and re-read state.

Jobs are enqueued by dotted path, so the web process never imports the graph.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from datetime import timedelta
from queue import Empty, SimpleQueue

from rq import Queue, RateLimit, Retry
from sqlalchemy import select

import runtime
from bot.delivery.send import Delivery, deliver
from cadence.enrollment import dispatch
from store.inbound import next_pending

log = logging.getLogger(__name__)

RETRY_DELAYS_S = [2, 10, 30, 120, 600]
"""Back-off between attempts of a failed job (database or Twilio down), seconds."""


def conversation_key(address: str) -> str:
    """RQ's rate-limit key for one conversation: a digest of the prospect's address, so Redis holds no number."""
    return "conversation:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def turns_job_id(message_id: int) -> str:
    """The RQ job id of the turns job queued for inbound message ``message_id``."""
    return f"turns-{message_id}"


def enqueue_turns(queue: Queue, message_id: int, sender: str) -> None:
    """Queue the processing of a conversation's pending messages, from inbound message ``message_id`` on.

    ``sender`` is the prospect's Twilio address, the conversation's identity; the job carries
    only the message id. RQ's per-key rate limit (concurrency 1 per conversation) keeps one
    conversation's turns from ever running at the same time on any number of workers; within
    a job, messages go in arrival order. The job id (:func:`turns_job_id`) lets the reconciler
    see whether the job is still waiting its turn.
    """
    queue.enqueue("jobs.conversation.process_conversation", message_id, job_id=turns_job_id(message_id),
                  rate_limit=RateLimit(key=conversation_key(sender), concurrency=1),
                  retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description="conversation turns")


def enqueue_start(queue: Queue, *, lead_id: int, capture_id: int, address: str) -> None:
    """Queue the T+0 first touch of a captured lead, in line with its conversation's other turns."""
    queue.enqueue("jobs.conversation.start_conversation", lead_id, capture_id,
                  rate_limit=RateLimit(key=conversation_key(address), concurrency=1),
                  retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description="first touch")


def enqueue_delivery(queue: Queue, message_id: int, *, delay_s: float = 0) -> None:
    """Queue the sending of outbox row ``message_id`` (after ``delay_s`` seconds)."""
    kwargs = dict(retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description=f"send message={message_id}")
    if delay_s > 0:
        queue.enqueue_in(timedelta(seconds=delay_s), "jobs.conversation.send_message", message_id, **kwargs)
    else:
        queue.enqueue("jobs.conversation.send_message", message_id, **kwargs)


def enqueue_queued(rt: runtime.Runtime, *, outbox_ids: list[int], touch_ids: list[int] = ()) -> None:
    """After a web request's commit: queue the sends and touches an action left (see ``bot.reps.actions``).

    A failure to reach Redis is logged, not raised: the rows are in the database and the
    reconciler enqueues what Redis never got.
    """
    from store.models import Message, utcnow

    try:
        if outbox_ids:
            with rt.sessions() as session:
                held = dict(session.execute(select(Message.id, Message.send_after).where(Message.id.in_(outbox_ids))).all())
        for outbox_id in outbox_ids:
            wait_s = (held[outbox_id] - utcnow()).total_seconds() if held.get(outbox_id) else 0
            enqueue_delivery(rt.queue, outbox_id, delay_s=max(0.0, wait_s))  # a row held for quiet hours waits
        if touch_ids:
            dispatch(rt, list(touch_ids))
    except Exception:
        log.exception("could not enqueue %s sends / %s touches; the reconciler will", len(outbox_ids), len(touch_ids))


def process_conversation(message_id: int | str) -> int:
    """Job: run each pending turn of the conversation inbound message ``message_id`` belongs to, oldest first,
    sending replies as it goes. (A job queued by an earlier release may carry the sender's address instead.)

    A turn that fails is dead-lettered and skipped unless a dependency is away and attempts are left
    (:func:`bot.conversation.turns.turn_failed`); then this job raises and RQ retries it. Either way the
    sender's STOPs behind the failing message are applied first.

    Returns the number of turns run.
    """
    from bot.conversation.turns import handle_inbound, opt_outs_first, turn_failed  # the web process never runs this job
    from store.models import Message

    rt = runtime.current()
    if isinstance(message_id, str):
        sender = message_id
    else:
        with rt.sessions() as session:
            sender = session.scalar(select(Message.from_address).where(Message.id == message_id))
        if sender is None:  # erased since it was queued
            return 0
    turns = 0
    while True:
        with rt.sessions() as session:
            message = next_pending(session, from_address=sender)
            message_id, failed_before = (message.id, message.attempts > 0) if message else (None, False)
        if message_id is None:
            return turns
        if failed_before:  # a STOP that arrived behind a failing message takes effect before it is tried again
            opt_outs_first(rt, sender, after=message_id)
        try:
            turn = handle_inbound(rt, message_id)
        except Exception as exc:
            if turn_failed(rt, sender=sender, message_id=message_id, exc=exc):
                continue  # dead-lettered: the sender's next message
            raise
        send_all(rt, turn.outbox_ids)
        if turn.touch_ids:
            dispatch(rt, turn.touch_ids)
        if turn.awaiting_lead is not None:
            enqueue_stall_check(rt, turn.awaiting_lead)
        if turn.outcome_lead is not None and rt.llm is not None:
            rt.queue.enqueue("jobs.conversation.write_crm_note", turn.outcome_lead, job_id=f"crm-note-{turn.outcome_lead}",
                             result_ttl=0, description="CRM note")
        turns += 1


def enqueue_stall_check(rt: runtime.Runtime, lead_id: int) -> None:
    """Look again when ``stall_after`` (scaled) has passed: is the lead still silent mid-qualification?

    One job per lead (a later turn replaces it); 1 s is added because RQ schedules in whole
    seconds. The reconciler's sweep finds any stall this misses.
    """
    from cadence.clock import scaled

    delay = scaled(rt.playbook.cadence.stall_after_s, rt.settings.cadence_seconds_per_day) + timedelta(seconds=1)
    rt.queue.enqueue_in(delay, "jobs.conversation.check_stall", lead_id, job_id=f"stall-{lead_id}", result_ttl=0,
                        description="stall check")


def check_stall(lead_id: int) -> int:
    """Job: enrol the lead if it is still silent mid-qualification; returns the touches queued."""
    from cadence.enrollment import enroll_stalled

    rt = runtime.current()
    owed = enroll_stalled(rt, lead_ids=[lead_id])
    return dispatch(rt, owed) if owed else 0


def start_conversation(lead_id: int, capture_id: int) -> int:
    """Job: send a captured lead's T+0 first touch; returns how many messages it queued."""
    from bot.conversation.turns import start_conversation as start

    rt = runtime.current()
    turn = start(rt, lead_id=lead_id, capture_id=capture_id)
    send_all(rt, turn.outbox_ids)
    if turn.awaiting_lead is not None:
        enqueue_stall_check(rt, turn.awaiting_lead)
    return len(turn.outbox_ids)


def send_all(rt: runtime.Runtime, outbox_ids: list[int]) -> None:
    """Send outbox rows now, in order. When one cannot go yet (Twilio not reached, asked to slow down, or
    the sender's rate is used up) it and every row after it are queued together for later, so a
    prospect never gets a turn's messages out of order; a row held for later (a rep alert waiting
    for the call window) is queued for its time."""
    for index, outbox_id in enumerate(outbox_ids):
        result = deliver(rt, outbox_id)
        if result in (Delivery.RETRY, Delivery.THROTTLED, Delivery.WAITING):
            rest = list(outbox_ids[index:])
            delay = (_held_for(rt, outbox_id) + 1.0 if result is Delivery.THROTTLED
                     else 1.0 if result is Delivery.WAITING else RETRY_DELAYS_S[0])
            rt.queue.enqueue_in(timedelta(seconds=delay), "jobs.conversation.send_in_order", rest,
                                retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S),
                                description=f"send messages={rest}")
            return
        if result is Delivery.SKIPPED:
            _enqueue_held(rt, outbox_id)


def send_in_order(outbox_ids: list[int]) -> int:
    """Job: send a turn's remaining rows in order (see :func:`send_all`); returns how many were given."""
    send_all(runtime.current(), outbox_ids)
    return len(outbox_ids)


def _held_for(rt: runtime.Runtime, outbox_id: int) -> float:
    """Seconds until the row's ``send_after`` (0 when none or past)."""
    from store.models import Message, utcnow

    with rt.sessions() as session:
        row = session.get(Message, outbox_id)
        return max(0.0, (row.send_after - utcnow()).total_seconds()) if row is not None and row.send_after else 0.0


def _enqueue_held(rt: runtime.Runtime, outbox_id: int) -> None:
    """A row with ``send_after`` in the future (a rep alert held for the call window, a send waiting for its
    slot in the sender's rate) is queued for then."""
    from store.models import Message, utcnow

    with rt.sessions() as session:
        row = session.get(Message, outbox_id)
        if row is not None and row.outbox_state == "pending" and row.send_after and row.send_after > utcnow():
            # +1 s: RQ's scheduler keeps whole seconds, and a job woken before send_after finds nothing due
            enqueue_delivery(rt.queue, outbox_id, delay_s=(row.send_after - utcnow()).total_seconds() + 1.0)


def run_touch(touch_id: int) -> str:
    """Job: run one follow-up touch (see :func:`cadence.touches.run_touch`); a send Twilio could not take yet
    is queued again. Returns what happened (a :class:`cadence.touches.TouchRun` value)."""
    return _run_touch(runtime.current(), touch_id)


_touch_pool: ThreadPoolExecutor | None = None
_touch_pool_lock = threading.Lock()


def touch_pool(rt: runtime.Runtime) -> ThreadPoolExecutor:
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
    """Job: run a batch of touches due in the same second; returns counts per :class:`cadence.touches.TouchRun`
    value (``not_started`` for sends dropped by a stopping worker, ``error`` for those that raised).

    The batch is decided in one transaction per due instant (:func:`cadence.touches.prepare_batch`:
    locked, re-read, queued in the outbox in a handful of statements), each send is claimed and
    re-checked on its own right before its Twilio call on this process's touch threads
    (:func:`touch_pool`, since Twilio's API answers in ~150 ms), and the sends Twilio accepted are
    recorded together (:func:`bot.delivery.send.record_sends`). With a model configured each touch
    runs alone (:func:`cadence.touches.run_touch`), since each waits on its own personal draft.

    Raises:
        Exception: the first error a send raised (database or Redis down), after every other send ran,
            so RQ retries the batch; touches already done come back ``done`` at once.
    """
    rt = runtime.current()
    if rt.llm is not None:
        return _run_each(rt, touch_ids)
    from cadence.touches import EARLY_WAIT, prepare_batch
    from store.models import Touch, utcnow

    with rt.sessions() as session:
        due = dict(session.execute(select(Touch.id, Touch.next_attempt_at).where(Touch.id.in_(touch_ids))).all())
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

    def __init__(self, rt: runtime.Runtime, counts: dict[str, int]) -> None:
        self.rt, self.counts = rt, counts
        self.in_flight = 0
        self.completed: SimpleQueue = SimpleQueue()
        self.records: list = []
        self.oldest: float | None = None
        self.errors: list[BaseException] = []

    def submit(self, message_ids: list[int]) -> None:
        from bot.delivery.send import hand_over

        pool = touch_pool(self.rt)
        for message_id in message_ids:
            future = pool.submit(hand_over, self.rt, message_id)
            self.in_flight += 1
            future.add_done_callback(lambda f, m=message_id: self.completed.put((f, m)))

    def drain(self, until_s: float | None = None) -> None:
        """Collect completed sends for ``until_s`` seconds, or until none is in flight (None)."""
        deadline = None if until_s is None else time.monotonic() + until_s
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or (deadline is None and not self.in_flight):
                break
            if not self.in_flight:
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
                                 or time.monotonic() - self.oldest >= self.RECORD_WITHIN_S):
                self._record()
        self._record()

    def _collect(self, future: Future, message_id: int) -> None:
        try:
            delivered, record = future.result()
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
        if delivered in (Delivery.RETRY, Delivery.THROTTLED, Delivery.WAITING):
            _requeue(self.rt, message_id)
        self._count({Delivery.SENT: "sent", Delivery.RETRY: "queued", Delivery.THROTTLED: "queued",
                     Delivery.WAITING: "queued"}.get(delivered, "done"))

    def _record(self) -> None:
        from bot.delivery.send import record_sends

        if self.records:
            record_sends(self.rt, self.records)
            self.records, self.oldest = [], None

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def _requeue(rt: runtime.Runtime, message_id: int) -> None:
    """Queue a send Twilio could not take yet again: after the first retry delay, or its send-rate slot."""
    from store.models import Message, utcnow

    with rt.sessions() as session:
        held = session.scalar(select(Message.send_after).where(Message.id == message_id))
    wait_s = (held - utcnow()).total_seconds() if held else 0
    enqueue_delivery(rt.queue, message_id, delay_s=max(RETRY_DELAYS_S[0], wait_s))


def _run_each(rt: runtime.Runtime, touch_ids: list[int]) -> dict[str, int]:
    """Each touch on its own (:func:`cadence.touches.run_touch`) on the touch threads; counts per outcome."""
    pool = touch_pool(rt)
    futures = [pool.submit(_run_touch, rt, touch_id) for touch_id in touch_ids]
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


def _run_touch(rt: runtime.Runtime, touch_id: int) -> str:
    from cadence.touches import TouchRun
    from cadence.touches import run_touch as run
    from store.models import Touch

    result = run(rt, touch_id)
    if result is TouchRun.QUEUED:
        with rt.sessions() as session:
            message_id = session.get(Touch, touch_id).message_id
        _requeue(rt, message_id)
    return result.value


def send_message(message_id: int) -> str:
    """Job: send one outbox row; a send to retry is queued again with a delay.

    Returns what happened (a :class:`bot.delivery.send.Delivery` value).
    """
    rt = runtime.current()
    result = deliver(rt, message_id)
    if result is Delivery.RETRY:
        enqueue_delivery(rt.queue, message_id, delay_s=RETRY_DELAYS_S[1])
    elif result in (Delivery.THROTTLED, Delivery.SKIPPED):
        _enqueue_held(rt, message_id)  # a row not due yet is queued again for its time
    return result.value


def write_crm_note(lead_id: int) -> bool:
    """Job: the model's few-line summary of the lead's conversation on its timeline (see ``bot.reps.notes``)."""
    from bot.reps.notes import write_crm_note as write

    return write(runtime.current(), lead_id)
