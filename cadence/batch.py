"""A batch of touches due in the same second, decided in one transaction of a handful of statements: locked,
re-read with their leads and the opt-out list, and each stopped, skipped, deferred or queued (the same rules as
:func:`cadence.touches.run_touch`, without model drafts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.delivery.result import SendResult
from bot.delivery.senders import business_route
from cadence.touches import PlannedSend, decide, enqueue_deferred, record_queued
from runtime import Runtime
from store import outbox
from store.leads import leads_by_id
from store.models import Lead, Message, Touch
from store.suppression import phone_hash, suppressed_pairs
from store.touches import is_owed, lock_batch


def prepare_batch(rt: Runtime, touch_ids: list[int], now: datetime) -> tuple[dict[int, SendResult], list[int]]:
    """Decide a batch of touches due by ``now`` (UTC) in one transaction of a handful of statements, and queue
    their sends; returns each decided touch's outcome and the outbox ids to hand to Twilio now.

    The same rules as :func:`run_touch` (no model drafts: a batch is for the playbook's own texts): the
    touches are locked, re-read with their leads and the opt-out list, and each is stopped, skipped,
    deferred to the end of the lead's quiet hours, or queued. A touch not due yet is enqueued again
    for its time (never early). A touch whose send was queued by an earlier run of the batch that
    never sent it (the worker stopped) has that row returned again; the outbox claim keeps it to one send.
    """
    outcomes: dict[int, SendResult] = {}
    sends: list[int] = []
    with rt.sessions.begin() as session:
        batch = lock_batch(session, touch_ids=touch_ids)
        leads = leads_by_id(session, lead_ids={t.lead_id for t in batch})
        owed = _owed(session, rt, batch, now, outcomes, sends)
        suppressed = suppressed_pairs(session, pairs={_opt_out_key(leads[t.lead_id]) for t in owed})
        taken = outbox.queued_keys(session, [f"touch:{t.id}" for t in owed])
        queued: list[tuple[Touch, Lead, PlannedSend, Message | None, Runtime]] = []
        for touch in owed:
            lead = leads[touch.lead_id]
            lrt = rt.for_lead(lead.business_id, lead.playbook_version_id)  # a batch spans businesses
            decided = decide(session, lrt, touch, lead, now, suppressed=_opt_out_key(lead) in suppressed)
            if isinstance(decided, SendResult):
                outcomes[touch.id] = decided
                if decided is SendResult.DEFERRED:
                    enqueue_deferred(rt, touch, now)
                continue
            row = None if f"touch:{touch.id}" in taken else _new_row(lrt, touch, lead, decided)
            if row is not None:
                session.add(row)
            queued.append((touch, lead, decided, row, lrt))
        session.flush()  # the new outbox rows, inserted together, get their ids
        for touch, lead, decided, row, lrt in queued:
            outcome, message_id = record_queued(session, lrt, touch, lead, decided, row.id if row else None, now)
            outcomes[touch.id] = outcome
            if outcome is SendResult.SENT and message_id is not None:
                sends.append(message_id)
    return outcomes, sends


def _owed(session: Session, rt: Runtime, batch: list[Touch], now: datetime, outcomes: dict[int, SendResult],
          sends: list[int]) -> list[Touch]:
    """The batch's touches still owed and due. Sends an earlier run queued but never sent go to ``sends``; touches
    done, or not due yet (enqueued again for their time, never early), go to ``outcomes``."""
    unsent = {t.message_id: t.id for t in batch if t.message_id is not None and t.result is None}
    for message_id in outbox.pending_among(session, message_ids=list(unsent)):
        sends.append(message_id)
        outcomes[unsent[message_id]] = SendResult.SENT
    owed = []
    for touch in batch:
        if touch.id in outcomes:
            continue
        if not is_owed(touch) or touch.next_attempt_at is None:
            outcomes[touch.id] = SendResult.DONE
        elif touch.next_attempt_at > now:
            touch.job_id = rt.jobs.touch(touch.id, touch.next_attempt_at)  # never early
            outcomes[touch.id] = SendResult.NOT_DUE
        else:
            owed.append(touch)
    return owed


def _opt_out_key(lead: Lead) -> tuple[int, str]:
    """The lead's key on the opt-out list: its business and its number's hash."""
    return lead.business_id, phone_hash(lead.address)


def _new_row(rt: Runtime, touch: Touch, lead: Lead, send: PlannedSend) -> Message:
    """The touch's outbox row, to be inserted with the batch's others."""
    route = business_route(rt.business, channel=lead.channel)
    return outbox.new_outbound(
        business_id=lead.business_id, lead_id=lead.id, kind="touch", to_address=lead.address, body=send.body,
            dedupe_key=f"touch:{touch.id}",
        from_address=route.from_address, messaging_service_sid=route.messaging_service_sid,
        content_sid=send.content_sid, content_variables=send.variables,
        state=outbox.AWAITING_APPROVAL if send.awaiting else "pending")
