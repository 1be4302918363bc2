"""RQ job entry points and the helpers that enqueue them. Jobs take ids and re-read state.

Jobs are enqueued by dotted path, so the web process never imports the graph.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import Queue, RateLimit, Retry

from cadence import runtime
from cadence.delivery import Delivery, deliver
from cadence.turns import handle_inbound
from store.inbound import next_pending

log = logging.getLogger(__name__)

RETRY_DELAYS_S = [2, 10, 30, 120, 600]
"""Back-off between attempts of a failed job (database or Twilio down), seconds."""


def enqueue_turns(queue: Queue, sender: str) -> None:
    """Queue the processing of a conversation's pending messages.

    ``sender`` is the prospect's Twilio address, the conversation's id. RQ's per-key rate
    limit (concurrency 1 per conversation) keeps one conversation's turns from ever running
    at the same time on any number of workers; within a job, messages go in arrival order.
    """
    queue.enqueue("cadence.jobs.process_conversation", sender,
                  rate_limit=RateLimit(key=f"conversation:{sender}", concurrency=1),
                  retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description="conversation turns")


def enqueue_delivery(queue: Queue, message_id: int, *, delay_s: float = 0) -> None:
    """Queue the sending of outbox row ``message_id`` (after ``delay_s`` seconds)."""
    kwargs = dict(retry=Retry(max=len(RETRY_DELAYS_S), interval=RETRY_DELAYS_S), description=f"send message={message_id}")
    if delay_s > 0:
        queue.enqueue_in(timedelta(seconds=delay_s), "cadence.jobs.send_message", message_id, **kwargs)
    else:
        queue.enqueue("cadence.jobs.send_message", message_id, **kwargs)


def process_conversation(sender: str) -> int:
    """Job: run each pending turn of the conversation with ``sender``, oldest first, sending replies as it goes.

    Returns the number of turns run.
    """
    rt = runtime.current()
    turns = 0
    while True:
        with rt.sessions() as session:
            message = next_pending(session, from_address=sender)
            message_id = message.id if message else None
        if message_id is None:
            return turns
        for outbox_id in handle_inbound(rt, message_id):
            if deliver(rt, outbox_id) is Delivery.RETRY:
                enqueue_delivery(rt.queue, outbox_id, delay_s=RETRY_DELAYS_S[0])
        turns += 1


def send_message(message_id: int) -> str:
    """Job: send one outbox row; a send to retry is queued again with a delay.

    Returns what happened (a :class:`cadence.delivery.Delivery` value).
    """
    rt = runtime.current()
    result = deliver(rt, message_id)
    if result is Delivery.RETRY:
        enqueue_delivery(rt.queue, message_id, delay_s=RETRY_DELAYS_S[1])
    return result.value
