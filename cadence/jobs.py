"""Job paths of releases before the jobs/ package, kept so that jobs already queued in Redis when a new version
is deployed still run (RQ finds a job's function by its dotted path). Nothing enqueues these paths any more;
each runs the job that replaced it. Drop this module once no deployment can hold such a job (a release after
the longest retry and schedule horizon: 60 days of touches)."""

from __future__ import annotations

from jobs.conversation import check_stall, process_conversation, send_first_touch, write_crm_note
from jobs.process import current
from jobs.sends import send_in_order, send_message
from jobs.touches import run_one, run_touches

__all__ = ["check_stall", "process_conversation", "run_touch", "run_touches", "send_in_order", "send_message",
           "start_conversation", "write_crm_note"]


def start_conversation(lead_id: int, capture_id: int) -> int:
    """Old path of :func:`jobs.conversation.send_first_touch`."""
    return send_first_touch(lead_id, capture_id)


def run_touch(touch_id: int) -> str:
    """Old single-touch job (touches now run in batches): runs touch ``touch_id`` now."""
    return run_one(current(), touch_id)
