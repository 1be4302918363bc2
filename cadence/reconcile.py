"""The reconciler: the database is the truth, Redis only a to-do list that can be lost.

Run by every worker at start and then periodically (one at a time, under a Redis lock),
it re-enqueues what the database says is owed: turns for inbound messages not yet
processed, sends for outbox rows still pending, and it closes out sends a dead worker
left half-done (never re-sent: see :func:`store.outbox.fail_stale_claims`).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from cadence.jobs import enqueue_delivery, enqueue_turns
from cadence.runtime import Runtime
from store import outbox
from store.models import Message, utcnow

log = logging.getLogger(__name__)

def reconcile(rt: Runtime) -> dict[str, int]:
    """One pass; returns counts of re-enqueued turns and sends and of stale claims closed."""
    now = utcnow()
    grace = timedelta(seconds=rt.settings.reconcile_grace_s)
    with rt.sessions.begin() as session:
        stale = outbox.fail_stale_claims(session, claimed_before=now - outbox.STALE_CLAIM_AFTER)
        lead_ids = list(session.scalars(
            select(Message.lead_id).distinct().where(
                Message.direction == "inbound", Message.processed_at.is_(None), Message.created_at < now - grace)
        ))
        pending = outbox.pending_ids(session, older_than=now - grace)
    for lead_id in lead_ids:
        enqueue_turns(rt.queue, lead_id)
    for message_id in pending:
        enqueue_delivery(rt.queue, message_id)
    counts = {"turns": len(lead_ids), "sends": len(pending), "stale_claims": stale}
    if any(counts.values()):
        log.info("reconciler re-enqueued %s", counts)
    return counts


def reconcile_forever(rt: Runtime, stop: threading.Event) -> None:
    """Reconcile every ``SWEEP_INTERVAL_S`` until ``stop`` is set; errors are logged, never fatal."""
    interval = rt.settings.sweep_interval_s
    while not stop.is_set():
        try:
            if rt.redis.set("leadline:reconciler", "1", nx=True, ex=max(1, int(interval * 0.8))):
                reconcile(rt)
        except Exception:  # the database or Redis may be down; try again next round
            log.exception("reconciler pass failed")
        stop.wait(interval)
