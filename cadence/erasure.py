"""Erasure across every store: the database rows (``store.erasure``), the conversation checkpoints,
and the number's pending jobs and keys in Redis."""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry

from cadence.runtime import Runtime
from store.erasure import erase_number

log = logging.getLogger(__name__)


def erase(rt: Runtime, phone: str) -> dict[str, Any]:
    """Erase everything Leadline holds about ``phone`` (E.164) but its hashed opt-out, if any.

    Returns counts: ``leads``, ``messages``, ``touches``, ``consent_records``, ``checkpoint_threads``,
    ``jobs``. Safe to repeat (a second run finds nothing).
    """
    with rt.sessions.begin() as session:
        erased = erase_number(session, phone=phone)
    threads = [f"sms:{phone}", f"whatsapp:{phone}"]
    saver = rt.graph.checkpointer
    for thread in threads:
        saver.delete_thread(thread)
    jobs = _drop_jobs(rt, phone, erased.lead_ids, erased.message_ids, erased.touch_ids)
    return {"leads": len(erased.lead_ids), "messages": len(erased.message_ids), "touches": len(erased.touch_ids),
            "consent_records": erased.consent_records, "checkpoint_threads": len(threads), "jobs": jobs}


def _drop_jobs(rt: Runtime, phone: str, lead_ids: list[int], message_ids: list[int], touch_ids: list[int]) -> int:
    """Delete queued, scheduled, deferred and failed jobs for the number or its rows, and keys naming it."""
    queue = rt.queue
    named = {f"touch-{t}" for t in touch_ids} | {f"stall-{i}" for i in lead_ids} | {f"crm-note-{i}" for i in lead_ids}
    candidates = set(queue.get_job_ids())
    for registry in (ScheduledJobRegistry(queue=queue), DeferredJobRegistry(queue=queue), FailedJobRegistry(queue=queue)):
        candidates |= set(registry.get_job_ids())
    wanted_args = {phone, f"whatsapp:{phone}", *message_ids}
    dropped = 0
    for job in Job.fetch_many(list(candidates), connection=rt.redis, serializer=queue.serializer):
        if job is None:
            continue
        try:
            args = set(job.args or ())
        except Exception:
            args = set()
        batch = job.args[0] if job.func_name == "cadence.jobs.run_touches" and job.args else None
        if batch is not None:  # a batch of touches: dropped when every touch in it was the number's
            args, named_batch = set(), bool(batch) and set(batch) <= set(touch_ids)
        else:
            named_batch = False
        if job.id in named or named_batch or args & wanted_args:
            job.delete()
            dropped += 1
    for key in rt.redis.scan_iter(match=f"*{phone}*", count=1000):  # e.g. RQ's per-conversation rate-limit keys
        rt.redis.delete(key)
    return dropped
