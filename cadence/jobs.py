"""RQ job entry points and the helpers that enqueue them. Jobs take ids and re-read state.

Jobs are enqueued by dotted path, so the web process never imports the graph.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor
from datetime import timedelta

from rq import Queue, RateLimit, Retry
from sqlalchemy import select

from cadence import runtime
from cadence.delivery import Delivery, deliver
from cadence.enrollment import dispatch
from store.inbound import next_pending

log = logging.getLogger(__name__)

RETRY_DELAYS_S = [2, 10, 30, 120, 600]
"""Back-off between attempts of a failed job (database or Twilio down), seconds."""


def conversation_key(address: str) -> str:
    """RQ's rate-limit key for one conversation: a digest of the prospect's address, so Redis holds no number."""
    return "conversation:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def enqueue_turns(queue: Queue, message_id: int, sender: str) -> None:
    """Queue the processing of a conversation's pending messages, from inbound message ``message_id`` on.

    ``sender`` is the prospect's Twilio address, the conversation's identity; the job carries
    only the message id. RQ's per-key rate limit (concurrency 1 per conversation) keeps one
    conversation's turns from ever running at the same time on any number of workers; within
    a job, messages go in arrival order.
    """
    queue.enqueue("cadence.jobs.process_conversation", message_id,
                  rate_limit=RateLimit(key=conversation_key(sender), concurrency=1),
                  retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description="conversation turns")


def enqueue_start(queue: Queue, *, lead_id: int, capture_id: int, address: str) -> None:
    """Queue the T+0 first touch of a captured lead, in line with its conversation's other turns."""
    queue.enqueue("cadence.jobs.start_conversation", lead_id, capture_id,
                  rate_limit=RateLimit(key=conversation_key(address), concurrency=1),
                  retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description="first touch")


def enqueue_delivery(queue: Queue, message_id: int, *, delay_s: float = 0) -> None:
    """Queue the sending of outbox row ``message_id`` (after ``delay_s`` seconds)."""
    kwargs = dict(retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description=f"send message={message_id}")
    if delay_s > 0:
        queue.enqueue_in(timedelta(seconds=delay_s), "cadence.jobs.send_message", message_id, **kwargs)
    else:
        queue.enqueue("cadence.jobs.send_message", message_id, **kwargs)


def enqueue_queued(rt: runtime.Runtime, *, outbox_ids: list[int], touch_ids: list[int] = ()) -> None:
    """After a web request's commit: queue the sends and touches an action left (see ``cadence.lead_actions``).

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

    Returns the number of turns run.
    """
    from cadence.turns import handle_inbound  # here: the web process enqueues this job, never runs it
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
            message_id = message.id if message else None
        if message_id is None:
            return turns
        turn = handle_inbound(rt, message_id)
        send_all(rt, turn.outbox_ids)
        if turn.touch_ids:
            dispatch(rt, turn.touch_ids)
        if turn.awaiting_lead is not None:
            enqueue_stall_check(rt, turn.awaiting_lead)
        if turn.outcome_lead is not None and rt.llm is not None:
            rt.queue.enqueue("cadence.jobs.write_crm_note", turn.outcome_lead, job_id=f"crm-note-{turn.outcome_lead}",
                             result_ttl=0, description="CRM note")
        turns += 1


def enqueue_stall_check(rt: runtime.Runtime, lead_id: int) -> None:
    """Look again when ``stall_after`` (scaled) has passed: is the lead still silent mid-qualification?

    One job per lead (a later turn replaces it); 1 s is added because RQ schedules in whole
    seconds. The reconciler's sweep finds any stall this misses.
    """
    from cadence.clock import scaled

    delay = scaled(rt.playbook.cadence.stall_after_s, rt.settings.cadence_seconds_per_day) + timedelta(seconds=1)
    rt.queue.enqueue_in(delay, "cadence.jobs.check_stall", lead_id, job_id=f"stall-{lead_id}", result_ttl=0,
                        description="stall check")


def check_stall(lead_id: int) -> int:
    """Job: enrol the lead if it is still silent mid-qualification; returns the touches queued."""
    from cadence.enrollment import enroll_stalled

    rt = runtime.current()
    owed = enroll_stalled(rt, lead_ids=[lead_id])
    return dispatch(rt, owed) if owed else 0


def start_conversation(lead_id: int, capture_id: int) -> int:
    """Job: send a captured lead's T+0 first touch; returns how many messages it queued."""
    from cadence.turns import start_conversation as start

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
            rt.queue.enqueue_in(timedelta(seconds=delay), "cadence.jobs.send_in_order", rest,
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
    """Job: run a batch of touches due in the same second on this process's touch threads (:func:`touch_pool`).

    Twilio's API answers a create in ~150 ms; run one after another a worker would send ~6
    touches a second. Each touch is independent (its own transactions, claim and re-checks), so
    they run side by side; the database work stays short and the threads mostly wait on Twilio.
    Returns counts per :class:`cadence.touches.TouchRun` value.

    Raises:
        Exception: the first error any touch raised (database or Redis down), after every other
            touch ran, so RQ retries the batch; touches already done come back ``done`` at once.
    """
    rt = runtime.current()
    pool = touch_pool(rt)
    futures = [pool.submit(_run_touch, rt, touch_id) for touch_id in touch_ids]
    counts: dict[str, int] = {}
    errors: list[BaseException] = []
    for touch_id, future in zip(touch_ids, futures):
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
    from store.models import Message, Touch, utcnow

    result = run(rt, touch_id)
    if result is TouchRun.QUEUED:
        with rt.sessions() as session:
            message_id = session.get(Touch, touch_id).message_id
            held = session.get(Message, message_id).send_after
        wait_s = (held - utcnow()).total_seconds() if held else 0
        enqueue_delivery(rt.queue, message_id, delay_s=max(RETRY_DELAYS_S[0], wait_s))
    return result.value


def send_message(message_id: int) -> str:
    """Job: send one outbox row; a send to retry is queued again with a delay.

    Returns what happened (a :class:`cadence.delivery.Delivery` value).
    """
    rt = runtime.current()
    result = deliver(rt, message_id)
    if result is Delivery.RETRY:
        enqueue_delivery(rt.queue, message_id, delay_s=RETRY_DELAYS_S[1])
    elif result in (Delivery.THROTTLED, Delivery.SKIPPED):
        _enqueue_held(rt, message_id)  # a row not due yet is queued again for its time
    return result.value


def write_crm_note(lead_id: int) -> bool:
    """Job: the model's few-line summary of the lead's conversation on its timeline (see ``cadence.notes``)."""
    from cadence.notes import write_crm_note as write

    return write(runtime.current(), lead_id)
