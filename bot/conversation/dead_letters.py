"""A turn that failed: retried while a dependency is away (:mod:`bot.conversation.failures`), at most
``TURN_MAX_ATTEMPTS`` times; otherwise its message is dead-lettered so the sender's later messages flow, and the
sender's STOPs behind it are applied first."""

from __future__ import annotations

import logging

from bot.conversation.compliance import opt_outs_first
from bot.conversation.failures import is_transient
from bot.logs import mask
from runtime import Runtime
from store.inbound import count_failure, set_aside
from store.leads import add_activity

log = logging.getLogger(__name__)


def turn_failed(rt: Runtime, *, sender: str, message_id: int, exc: BaseException) -> bool:
    """After inbound message ``message_id``'s turn raised ``exc``: apply the sender's later STOPs at once, count
    the failure, and dead-letter the message when retrying cannot help (not transient) or has not helped
    (``TURN_MAX_ATTEMPTS`` reached). Returns True when the message was set aside (the caller goes on to the
    sender's next message), False when the turn should be retried (the caller re-raises).

    A set-aside message is kept with the error's type, shown on the lead's timeline, and counted
    (``/stats`` ``dead_letters``, ``/metrics`` ``leadline_messages{direction="inbound",status="dead_lettered"}``).
    """
    transient = is_transient(exc)
    try:
        opt_outs_first(rt, sender, after=message_id)
        with rt.sessions.begin() as session:
            failures = count_failure(session, message_id=message_id)
            if transient and failures < rt.settings.turn_max_attempts:
                return False
            error = mask(f"{type(exc).__name__}: {exc}".splitlines()[0])
            message = set_aside(session, message_id=message_id, error=error)
            if message is not None and message.lead_id is not None:
                add_activity(session, lead_id=message.lead_id, kind="dead_letter", message_id=message_id,
                             error=type(exc).__name__, attempts=failures,
                             text="This message could not be processed; the conversation went on without it.")
    except Exception:  # the database is away too: RQ retries the job, and the next failure counts
        log.warning("could not record the failure of message %s's turn", message_id, exc_info=True)
        return False
    log.error("dead-lettered message %s after %s attempt(s): %s (%s)", message_id, failures, type(exc).__name__,
              "transient, attempts used up" if transient else "not transient")
    return True
