"""Handing one outbox row to Twilio: claim, re-check, send, record.

The re-check happens after the claim and right before the Twilio call, so an opt-out
committed at any point before that wins (a STOP racing a send cancels it).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from bot.delivery import unrecorded
from bot.delivery.result import SendResult
from bot.errors import SendOutcomeUnknown, SendRefused, TwilioUnreachable
from bot.twilio.client import OPTED_OUT
from bot.twilio.rate import INLINE_WAIT_S
from runtime import Runtime
from store import consent, outbox, sends, touches
from store.addresses import phone_of
from store.models import Message, utcnow

log = logging.getLogger(__name__)

PROSPECT_KINDS = frozenset({"reply", "help", "touch", "first_touch"})
"""Messages that speak to the lead (rep alerts go to reps)."""


def send(rt: Runtime, message_id: int) -> SendResult:
    """Send outbox row ``message_id`` at most once and record it. Never raises for Twilio's answers.

    Raises:
        sqlalchemy.exc.OperationalError: the database is unreachable before the send (nothing was sent).
    """
    outcome, record = send_unrecorded(rt, message_id)
    if record is not None:
        record_sends(rt, [record])
    return outcome


def send_unrecorded(rt: Runtime, message_id: int) -> tuple[SendResult, sends.SentRecord | None]:
    """Claim row ``message_id``, re-check it and hand it to Twilio; the caller records a send Twilio accepted
    (:func:`record_sends`), alone or with others. Every other outcome is recorded here.

    The claim and the re-checks (earlier row to the same recipient unsent, opt-out, the lead's cadence
    stopped) are one short transaction committed right before the Twilio call, so a STOP committed before
    it wins. Until recorded the row stays ``claimed``: a crash in between leaves it for
    :func:`resolve_stale_claims`, which asks Twilio, and it is never sent twice.
    """
    with rt.sessions.begin() as session:
        claimed = sends.claim_for_send(session, message_id=message_id)
        if claimed is None:
            return SendResult.NOT_PENDING, None
        checks = sends.send_checks(session, claimed)
        if checks.earlier_unsent:
            sends.release(session, message_id=message_id, error_message=None)
            return SendResult.WAITING, None
        reason = _cancel_reason(claimed, checks)
        if reason:
            outbox.cancel(session, message_id=message_id, reason=reason)
            if claimed.kind == "touch":
                touches.record_message_outcome(session, message_id=message_id, result="cancelled")
            return SendResult.CANCELLED, None
    sender = claimed.messaging_service_sid or claimed.from_address
    if not sender:
        return _failed(rt, message_id, None, "no sender configured: set TWILIO_SMS_FROM / TWILIO_WHATSAPP_FROM"), None
    wait_s = rt.send_rate.reserve(sender)
    if wait_s > INLINE_WAIT_S:  # the sender's rate is spoken for: back in the outbox until its slot
        with rt.sessions.begin() as session:
            sends.release(session, message_id=message_id, error_message=None,
                           send_after=utcnow() + timedelta(seconds=wait_s))
        return SendResult.THROTTLED, None
    if wait_s > 0:
        time.sleep(wait_s)
    try:
        sent = rt.twilio.send(to=claimed.to_address, body=claimed.body, from_address=claimed.from_address,
                              messaging_service_sid=claimed.messaging_service_sid, content_sid=claimed.content_sid,
                              content_variables=claimed.content_variables)
    except SendRefused as exc:
        if exc.retryable:
            return _retry(rt, message_id, f"Twilio {exc.status} {exc.code}: {exc}"), None
        return _failed(rt, message_id, exc.code, str(exc)), None
    except TwilioUnreachable as exc:
        return _retry(rt, message_id, f"Twilio unreachable: {exc}"), None
    except SendOutcomeUnknown as exc:
        return _failed(rt, message_id, None, f"no answer from Twilio, not retried to avoid a double send: {exc}"), None
    return SendResult.SENT, sends.SentRecord(
        message_id=message_id, lead_id=claimed.lead_id, kind=claimed.kind, twilio_sid=sent.sid, status=sent.status,
        from_address=sent.from_address or claimed.from_address, sent_at=utcnow(), business_id=claimed.business_id)


RECORD_RETRY_S = (0.5, 2.0, None)
"""Pauses between tries to record a send Twilio accepted (the database busy or briefly away), seconds."""


def record_sends(rt: Runtime, records: list[sends.SentRecord]) -> bool:
    """Record sends Twilio accepted (:func:`store.sends.record_sent`, one transaction), retrying per
    ``RECORD_RETRY_S``; False when it kept failing. Never raises: Twilio has them, so they must never be
    sent again. Records the database would not take are kept in Redis (:mod:`bot.delivery.unrecorded`) and the
    reconciler records them once it answers; the stale-claim pass settles any Redis could not keep either."""
    for attempt, pause_s in enumerate(RECORD_RETRY_S):
        try:
            with rt.sessions.begin() as session:
                sends.record_sent(session, records, prospect_kinds=PROSPECT_KINDS)
            return True
        except Exception:
            log.warning("%s message(s) went to Twilio (%s) but could not be recorded (attempt %s)", len(records),
                        ", ".join(r.twilio_sid for r in records[:3]), attempt + 1, exc_info=True)
            if pause_s is None:
                unrecorded.keep(rt, records)
                return False
            time.sleep(pause_s)
    return False


def _cancel_reason(claimed: sends.ClaimedSend, checks: sends.SendChecks) -> str | None:
    if checks.suppressed:
        return "opted_out"
    if claimed.kind in PROSPECT_KINDS and checks.lead_status == "opted_out":
        return "opted_out"
    if claimed.kind == "touch" and checks.stop_reason in ("replied", "booked", "opted_out"):
        return f"cadence stopped: {checks.stop_reason}"
    return None


def _failed(rt: Runtime, message_id: int, code: int | None, error: str) -> SendResult:
    log.warning("message %s not sent: %s %s", message_id, code or "", error)
    with rt.sessions.begin() as session:
        sends.mark_failed(session, message_id=message_id, error_code=code, error_message=error)
        touches.record_message_outcome(session, message_id=message_id, result="failed", error_code=code)
        message = session.get(Message, message_id) if code == OPTED_OUT else None
        if message is not None:  # Twilio knows of a STOP we never saw (e.g. sent to another of our numbers)
            consent.opt_out(session, business_id=message.business_id, phone=phone_of(message.to_address), keyword=None,
                            source="carrier",
                            text="Twilio error 21610 (recipient unsubscribed)")
    return SendResult.FAILED


def _retry(rt: Runtime, message_id: int, error: str) -> SendResult:
    log.warning("message %s will be retried: %s", message_id, error)
    with rt.sessions.begin() as session:
        sends.release(session, message_id=message_id, error_message=error)
    return SendResult.RETRY


def resolve_stale_claims(rt: Runtime) -> dict[str, int]:
    """Settle sends a dead worker left claimed, by asking Twilio whether the message exists.

    Twilio's REST API has no idempotency key, so the only safe retry is one that first
    looks: a message to the same address with the same body, created since the claim,
    means it went (recorded as sent); none means it did not (released, sent again once).
    Where Twilio cannot be asked, the row waits for the next pass.
    """
    cutoff = utcnow() - timedelta(seconds=rt.settings.stale_claim_after_s)
    counts = {"found_sent": 0, "released": 0}
    with rt.sessions() as session:  # a stale claim has its claimed_at (the query compares it): the filter is for mypy
        rows = [(m.id, m.to_address, m.body, m.content_sid, m.claimed_at)
                for m in sends.stale_claims(session, claimed_before=cutoff) if m.claimed_at is not None]
    for message_id, to, body, content_sid, claimed_at in rows:
        try:
            found = _find_at_twilio(rt, to=to, body=body, template=content_sid is not None, since=claimed_at)
        except Exception:  # Twilio unreachable or refusing: look again next pass
            log.warning("could not look up stale send %s at Twilio", message_id, exc_info=True)
            continue
        with rt.sessions.begin() as session:
            if found is not None:
                sends.mark_sent(session, message_id=message_id, twilio_sid=found.sid, status=found.status,
                                 from_address=found.from_)
                touches.record_message_outcome(session, message_id=message_id, result="sent")
                touches.record_status_outcome(session, twilio_sid=found.sid, status=found.status,
                                              error_code=found.error_code)
                counts["found_sent"] += 1
            else:
                sends.release(session, message_id=message_id, error_message="worker stopped before Twilio had it")
                counts["released"] += 1
    return counts


def _find_at_twilio(rt: Runtime, *, to: str, body: str | None, template: bool, since: datetime) -> Any:
    """The outbound message to ``to`` created since ``since`` with this body (any body for a template)."""
    earliest = since - timedelta(seconds=5)
    for message in rt.twilio.client.messages.list(to=to, date_sent_after=earliest, limit=50):
        if message.direction == "inbound" or message.date_created is None or message.date_created < earliest:
            continue
        if template or message.body == body:
            return message
    return None
