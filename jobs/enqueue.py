"""Every job Leadline puts in RQ, in one place: its dotted path, job id, retry policy and timeout.

:class:`RQJobs` is the runtime's ``jobs`` (the :class:`runtime.Jobs` port): the composition roots
(``app.create_app``, :mod:`jobs.process`) attach it, so the web process and the conversation code
queue work without importing the job code. Jobs are enqueued by dotted path and carry ids only;
each job re-reads the database, which is the truth (Redis is a to-do list the reconciler rebuilds).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rq import Queue, RateLimit, Retry
from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry

from cadence.dispatch import dispatch
from jobs.liveness import alive_jobs
from store import outbox
from store.addresses import every_address
from store.models import utcnow

if TYPE_CHECKING:
    from runtime import Runtime

log = logging.getLogger(__name__)

RETRY_DELAYS_S = [2, 10, 30, 120, 600]
"""Back-off between attempts of a failed job (database, Redis or Twilio away), seconds."""

PROCESS_CONVERSATION = "jobs.conversation.process_conversation"
SEND_FIRST_TOUCH = "jobs.conversation.send_first_touch"
CHECK_STALL = "jobs.conversation.check_stall"
WRITE_CRM_NOTE = "jobs.conversation.write_crm_note"
SEND_MESSAGE = "jobs.sends.send_message"
SEND_IN_ORDER = "jobs.sends.send_in_order"
RUN_TOUCHES = "jobs.touches.run_touches"

TOUCH_BATCH_TIMEOUT_S = 1800
"""Longest a batch job may run, seconds. Its touches share the process's touch threads with every other
batch, so under a backlog it mostly waits its turn (each send has its own Twilio timeout)."""

JOB_ARGUMENT_KINDS = {
    "process_conversation": "message", "send_message": "message", "send_in_order": "messages",
    "send_first_touch": "lead", "start_conversation": "lead", "check_stall": "lead", "write_crm_note": "lead",
    "run_touches": "touches", "run_touch": "touch",
}
"""What each job's first argument names, by function name (old names too: a job queued by an earlier release
may still be in Redis), so erasure can find a number's jobs."""


def retry() -> Retry:
    """RQ's retry policy for every Leadline job: :data:`RETRY_DELAYS_S`."""
    return Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S)


def conversation_key(address: str) -> str:
    """RQ's rate-limit key for one conversation: a digest of the prospect's address, so Redis holds no number."""
    return "conversation:" + hashlib.sha256(address.encode()).hexdigest()[:32]


def turns_job_id(message_id: int) -> str:
    """The RQ job id of the turns job queued for inbound message ``message_id``."""
    return f"turns-{message_id}"


def touches_job_id(touch_ids: Sequence[int], when: datetime) -> str:
    """A batch's job id, ``touches-<epoch second>-<first id>``: the same when the reconciler enqueues the same
    batch again, so a re-enqueue replaces rather than duplicates it."""
    return f"touches-{int(when.timestamp())}-{min(touch_ids)}"


class RQJobs:
    """The work this process hands to RQ, on the runtime's queue (see :class:`runtime.Jobs`)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def queue(self) -> Queue:
        return self.rt.queue

    def turns(self, message_id: int, sender: str) -> None:
        """Queue a conversation's pending turns, from inbound message ``message_id`` on.

        ``sender`` is the prospect's Twilio address, the conversation's identity; the job carries only the
        message id. RQ's per-key rate limit (concurrency 1 per conversation) keeps one conversation's turns
        from ever running at once on any number of workers; within a job, messages go in arrival order.
        """
        self.queue.enqueue(PROCESS_CONVERSATION, message_id, job_id=turns_job_id(message_id),
                           rate_limit=RateLimit(key=conversation_key(sender), concurrency=1),
                           retry=retry(), description="conversation turns")

    def first_touch(self, *, lead_id: int, capture_id: int, address: str) -> None:
        """Queue a captured lead's T+0 first touch, in line with its conversation's other turns."""
        self.queue.enqueue(SEND_FIRST_TOUCH, lead_id, capture_id,
                           rate_limit=RateLimit(key=conversation_key(address), concurrency=1),
                           retry=retry(), description="first touch")

    def send(self, message_id: int, *, delay_s: float = 0) -> None:
        """Queue the send of outbox row ``message_id``, after ``delay_s`` seconds."""
        kwargs = {"retry": retry(), "description": f"send message={message_id}"}
        if delay_s > 0:
            self.queue.enqueue_in(timedelta(seconds=delay_s), SEND_MESSAGE, message_id, **kwargs)
        else:
            self.queue.enqueue(SEND_MESSAGE, message_id, **kwargs)

    def send_in_order(self, outbox_ids: list[int], *, delay_s: float) -> None:
        """Queue a turn's remaining rows to go in order, after ``delay_s`` seconds."""
        self.queue.enqueue_in(timedelta(seconds=delay_s), SEND_IN_ORDER, outbox_ids, retry=retry(),
                              description=f"send messages={outbox_ids}")

    def send_held(self, message_id: int) -> None:
        """A row held past now (a rep alert waiting for the call window, a send waiting for its rate slot) is
        queued for then; a row not held is left alone."""
        with self.rt.sessions() as session:
            held = outbox.is_held(session, message_id=message_id, now=utcnow())
        if held is not None:
            # +1 s: RQ's scheduler keeps whole seconds, and a job woken before send_after finds nothing due
            self.send(message_id, delay_s=(held - utcnow()).total_seconds() + 1.0)

    def after_commit(self, *, outbox_ids: list[int], touch_ids: Sequence[int] = ()) -> None:
        """After a web request's commit: queue the sends and touches an action left (``bot.reps.actions``).

        A failure to reach Redis is logged, not raised: the rows are in the database and the reconciler
        enqueues what Redis never got.
        """
        try:
            if outbox_ids:
                with self.rt.sessions() as session:
                    held = outbox.send_after(session, message_ids=outbox_ids)
                for outbox_id in outbox_ids:
                    until = held.get(outbox_id)
                    self.send(outbox_id, delay_s=max(0.0, (until - utcnow()).total_seconds() if until else 0))
            if touch_ids:
                dispatch(self.rt, list(touch_ids))
        except Exception:
            log.exception("could not enqueue %s sends / %s touches; the reconciler will", len(outbox_ids), len(touch_ids))

    def touches(self, touch_ids: Sequence[int], when: datetime, *, job_id: str | None = None) -> str:
        """Put one job running touches ``touch_ids`` (due at ``when``, UTC) in Redis; returns its job id.

        Results are not kept (Redis holds only what is due next); the default id is :func:`touches_job_id`.
        """
        job_id = job_id or touches_job_id(touch_ids, when)
        kwargs = {"job_id": job_id, "result_ttl": 0, "failure_ttl": 86400, "retry": retry(),
                  "job_timeout": TOUCH_BATCH_TIMEOUT_S,
                  "description": f"{len(touch_ids)} touch{'es' if len(touch_ids) != 1 else ''}"}
        if when <= utcnow():
            self.queue.enqueue(RUN_TOUCHES, list(touch_ids), **kwargs)
        else:
            self.queue.enqueue_at(when, RUN_TOUCHES, list(touch_ids), **kwargs)
        return job_id

    def touch(self, touch_id: int, when: datetime) -> str:
        """Put touch ``touch_id`` alone in Redis, to run at ``when`` (UTC); returns the job id (``touch-<id>``,
        never one of a batch's, so it cannot replace a batch that holds other touches)."""
        return self.touches([touch_id], when, job_id=f"touch-{touch_id}")

    def stall_check(self, lead_id: int, delay: timedelta) -> None:
        """Look again after ``delay`` whether the lead is still silent mid-qualification; one job per lead
        (a later turn replaces it). The reconciler's sweep finds any stall this misses."""
        self.queue.enqueue_in(delay, CHECK_STALL, lead_id, job_id=f"stall-{lead_id}", result_ttl=0,
                              description="stall check")

    def crm_note(self, lead_id: int) -> None:
        """Queue the model's CRM note for a lead that reached an outcome (one per lead)."""
        self.queue.enqueue(WRITE_CRM_NOTE, lead_id, job_id=f"crm-note-{lead_id}", result_ttl=0,
                           description="CRM note")

    def alive(self, job_ids: list[str]) -> set[str]:
        """Those of ``job_ids`` that Redis holds and that will still run (see :mod:`jobs.liveness`)."""
        return alive_jobs(self.rt.redis, job_ids, self.rt.settings.job_timeout_s)

    def forget(self, *, phone: str, lead_ids: list[int], message_ids: list[int], touch_ids: list[int]) -> int:
        """Delete queued, scheduled, deferred and failed jobs for a number's rows (erasure); returns how many.

        Jobs carry ids, so each job's first argument is matched against the ids of its kind; a batch of
        touches goes only when every touch in it was the number's (the others' ids stay).
        """
        ids: dict[str, set[int | str]] = {"message": set(message_ids) | set(every_address(phone)),
                                          "lead": set(lead_ids), "touch": set(touch_ids)}
        queue = self.queue
        candidates = set(queue.get_job_ids())
        for registry in (ScheduledJobRegistry(queue=queue), DeferredJobRegistry(queue=queue),
                         FailedJobRegistry(queue=queue)):
            candidates |= set(registry.get_job_ids())
        dropped = 0
        for job in Job.fetch_many(list(candidates), connection=self.rt.redis, serializer=queue.serializer):
            if job is None or not job.args:
                continue
            kind, first = JOB_ARGUMENT_KINDS.get((job.func_name or "").rsplit(".", 1)[-1]), job.args[0]
            if kind == "touches":
                mine = bool(first) and set(first) <= set(touch_ids)
            elif kind == "messages":
                mine = bool(first) and set(first) <= set(message_ids)
            else:
                mine = kind is not None and isinstance(first, (int, str)) and first in ids[kind]
            if mine:
                job.delete()
                dropped += 1
        return dropped
