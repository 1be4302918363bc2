"""The reconciler: the database is the truth, Redis only a to-do list that can be lost.

Run by every worker at start and then periodically (one at a time, under a Redis lock),
it re-enqueues what the database says is owed: turns for inbound messages not yet
processed, sends for outbox rows still pending, follow-up touches coming due (Redis holds
only the next ``TOUCH_HORIZON_S``), and it enrolls leads that went quiet mid-qualification.
It also records sends Twilio accepted while the database was away (:mod:`bot.delivery.unrecorded`)
and settles sends a dead worker left half-done, by asking Twilio
(:func:`bot.delivery.send.resolve_stale_claims`).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from bot.delivery import unrecorded
from bot.delivery.send import PROSPECT_KINDS, resolve_stale_claims
from cadence import enrollment
from cadence.dispatch import dispatch
from jobs.enqueue import turns_job_id
from jobs.liveness import alive_jobs
from runtime import Runtime
from store import outbox
from store.inbound import pending_senders
from store.models import utcnow

log = logging.getLogger(__name__)

def reconcile(rt: Runtime) -> dict[str, int]:
    """One pass; returns counts of re-enqueued turns and sends, of sends recorded that Twilio had accepted while
    the database was away (:mod:`bot.delivery.unrecorded`), and of stale claims closed."""
    now = utcnow()
    grace = timedelta(seconds=rt.settings.reconcile_grace_s)
    recorded = unrecorded.record_kept(rt, prospect_kinds=PROSPECT_KINDS)  # first: later sends wait on these
    stale = resolve_stale_claims(rt)
    with rt.sessions.begin() as session:
        senders = pending_senders(session, older_than=now - grace)
        pending = outbox.pending_ids(session, older_than=now - grace)
    # A backlog is not a loss: only a conversation whose job Redis no longer holds is queued again (queueing
    # every waiting conversation each pass would multiply the very backlog the workers are clearing).
    waiting = alive_jobs(rt.redis, [turns_job_id(m) for _, m in senders], rt.settings.job_timeout_s)
    senders = [(s, m) for s, m in senders if turns_job_id(m) not in waiting]
    for sender, message_id in senders:
        rt.jobs.turns(message_id, sender)
    for message_id in pending:
        rt.jobs.send(message_id)
    stalled = enrollment.enroll_stalled(rt)
    touches = dispatch(rt)
    counts = {"conversations": len(senders), "sends": len(pending), "recorded": recorded, **stale,
              "enrolled_touches": len(stalled), "touches_enqueued": touches}
    if any(counts.values()):
        log.info("reconciler re-enqueued %s", counts)
    return counts


def reconcile_forever(rt: Runtime, stop: threading.Event) -> None:
    """Reconcile every ``SWEEP_INTERVAL_S`` until ``stop`` is set; errors are logged, never fatal."""
    interval = rt.settings.sweep_interval_s
    while not stop.is_set():
        try:
            if rt.redis.set(f"leadline:reconciler:{rt.settings.queue_name}", "1", nx=True, ex=max(1, int(interval * 0.8))):
                reconcile(rt)
        except Exception:  # the database or Redis may be down; try again next round
            log.exception("reconciler pass failed")
        stop.wait(interval)
