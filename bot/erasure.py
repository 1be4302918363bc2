"""Erasure across every store: the database rows (``store.erasure``), the conversation checkpoints,
and the number's pending jobs and keys in Redis."""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry

from runtime import Runtime
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
    """Delete queued, scheduled, deferred and failed jobs for the number's rows, and keys naming the number.

    Jobs carry ids, so each job function's argument is matched against the ids of its kind; a
    batch of touches goes only when every touch in it was the number's (the others' ids stay).
    """
    queue = rt.queue
    ids_of = {"process_conversation": set(message_ids) | {phone, f"whatsapp:{phone}"}, "send_message": set(message_ids),
              "start_conversation": set(lead_ids), "check_stall": set(lead_ids), "write_crm_note": set(lead_ids),
              "run_touch": set(touch_ids)}
    candidates = set(queue.get_job_ids())
    for registry in (ScheduledJobRegistry(queue=queue), DeferredJobRegistry(queue=queue), FailedJobRegistry(queue=queue)):
        candidates |= set(registry.get_job_ids())
    dropped = 0
    for job in Job.fetch_many(list(candidates), connection=rt.redis, serializer=queue.serializer):
        if job is None or not job.args:
            continue
        name, first = job.func_name.rsplit(".", 1)[-1], job.args[0]
        if name == "run_touches":
            mine = bool(first) and set(first) <= set(touch_ids)
        elif name == "send_in_order":
            mine = bool(first) and set(first) <= set(message_ids)
        else:
            mine = isinstance(first, (int, str)) and first in ids_of.get(name, set())
        if mine:
            job.delete()
            dropped += 1
    for key in rt.redis.scan_iter(match=f"*{phone}*", count=1000):  # keys an earlier release named by number
        rt.redis.delete(key)
    return dropped
