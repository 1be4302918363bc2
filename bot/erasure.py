"""Erasure across every store: the database rows (``store.erasure``), the conversation checkpoints,
and the number's pending jobs and keys in Redis."""

from __future__ import annotations

import logging
from typing import Any

from runtime import Runtime
from store.checkpoints import CHANNELS, thread_id
from store.erasure import erase_number

log = logging.getLogger(__name__)


def erase(rt: Runtime, phone: str, *, business_id: int | None) -> dict[str, Any]:
    """Erase everything Leadline holds about ``phone`` (E.164) but its hashed opt-outs, in business
    ``business_id``, or in every business when None (a data subject's request to the agency).

    Returns counts: ``leads``, ``messages``, ``touches``, ``consent_records``, ``checkpoint_threads``,
    ``jobs``. Safe to repeat (a second run finds nothing).
    """
    with rt.sessions.begin() as session:
        erased = erase_number(session, phone=phone, business_id=business_id)
    businesses = {b for b, _ in erased.conversations} | ({business_id} if business_id is not None else set())
    threads = [thread_id(b, channel, phone) for b in sorted(businesses) for channel in CHANNELS]
    for thread in threads:
        rt.checkpointer.delete_thread(thread)
    jobs = rt.jobs.forget(phone=phone, lead_ids=erased.lead_ids, message_ids=erased.message_ids,
                          touch_ids=erased.touch_ids)
    for key in rt.redis.scan_iter(match=f"*{phone}*", count=1000):  # keys an earlier release named by number
        rt.redis.delete(key)
    return {"leads": len(erased.lead_ids), "messages": len(erased.message_ids), "touches": len(erased.touch_ids),
            "consent_records": erased.consent_records, "checkpoint_threads": len(threads), "jobs": jobs}
