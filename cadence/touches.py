"""Running one touch: re-check the lead, respect its clock, pick the WhatsApp message type, queue the send.

Everything is re-read from the database when the job runs, so a reply, booking or STOP
committed at any time before wins; and the send itself goes through the outbox, which
re-checks the opt-out once more right before the Twilio call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.delivery.result import SendResult
from bot.delivery.send import send as send_row
from bot.delivery.senders import business_route
from cadence.clock import quiet_until, whatsapp_window_open
from cadence.drafts import ask_approval, personal_draft, send_approval_requests
from cadence.enrollment import is_reactivation
from graph.playbook import Step
from graph.texts import placeholders_for, render
from runtime import Runtime
from store import outbox
from store.leads import CLOSED_STATUSES, add_activity, set_status
from store.models import Lead, Touch, utcnow
from store.suppression import is_suppressed
from store.touches import due_times, is_owed

log = logging.getLogger(__name__)

EARLY_WAIT = timedelta(seconds=1.5)
"""RQ's scheduler keeps ``enqueue_at`` times in whole seconds (``calendar.timegm``), so a touch job can be
released up to a second early; a job that early waits out the rest rather than send before its time."""


def run_touch(rt: Runtime, touch_id: int) -> SendResult:
    """Run touch ``touch_id`` if it is owed and due; never before its time; safe to run any number of times. Runs
    as the touch's lead's business, with the playbook version its conversation started on."""
    scoped = rt.for_lead_id(touch_id=touch_id)
    if scoped is None:  # erased
        return SendResult.DONE
    rt = scoped
    with rt.sessions() as session:
        due = due_times(session, touch_ids=[touch_id]).get(touch_id)
    if due is not None and 0 < (due - utcnow()).total_seconds() <= EARLY_WAIT.total_seconds():
        time.sleep((due - utcnow()).total_seconds())
    draft = personal_draft(rt, touch_id) if rt.llm is not None else None  # before the transaction: a slow model holds no lock
    now = utcnow()
    with rt.sessions.begin() as session:
        touch = session.get(Touch, touch_id, with_for_update=True)
        if touch is None or not is_owed(touch):
            return SendResult.DONE
        if touch.next_attempt_at is None:
            return SendResult.DONE
        if touch.next_attempt_at > now:
            touch.job_id = rt.jobs.touch(touch.id, touch.next_attempt_at)  # never early
            return SendResult.NOT_DUE
        lead = touch.lead
        outcome, message_id = _prepare(session, rt, touch, lead, now, draft=draft)
    if outcome is SendResult.DEFERRED:
        with rt.sessions.begin() as session:
            deferred = session.get(Touch, touch_id)
            if deferred is not None:  # else erased since: nothing to enqueue
                enqueue_deferred(rt, deferred, now)
    if outcome is SendResult.AWAITING_APPROVAL and message_id is not None:  # (it always has its draft's row)
        send_approval_requests(rt, message_id)
        return outcome
    if message_id is None:
        return outcome
    return send_row(rt, message_id).for_touch()


@dataclass(frozen=True)
class PlannedSend:
    """A touch decided to go: what its outbox row says."""

    body: str
    content_sid: str | None
    variables: dict[str, str] | None
    drafted: bool
    awaiting: bool


def _prepare(session: Session, rt: Runtime, touch: Touch, lead: Lead, now: datetime,
             draft: str | None = None) -> tuple[SendResult, int | None]:
    """Decide the touch's fate in the job's transaction; returns the outbox id when a send was queued.

    ``draft``: a model's personal version of the step's text, already checked; used for a free-text
    send (never instead of a WhatsApp template). A hot lead's draft waits for a rep's approval.
    """
    decided = decide(session, rt, touch, lead, now, draft=draft)
    if isinstance(decided, SendResult):
        return decided, None
    route = business_route(rt.business, channel=lead.channel)
    message_id = outbox.add_outbound(
        session, business_id=lead.business_id, lead_id=lead.id, kind="touch", to_address=lead.address, body=decided.body,
        dedupe_key=f"touch:{touch.id}", from_address=route.from_address,
        messaging_service_sid=route.messaging_service_sid, content_sid=decided.content_sid,
        content_variables=decided.variables, state=outbox.AWAITING_APPROVAL if decided.awaiting else "pending")
    return record_queued(session, rt, touch, lead, decided, message_id, now)


def decide(session: Session, rt: Runtime, touch: Touch, lead: Lead, now: datetime, *, draft: str | None = None,
            suppressed: bool | None = None) -> SendResult | PlannedSend:
    """Stop, skip or defer the touch (recorded on it and the lead's timeline), or say what to send.

    ``suppressed``: whether the lead's number opted out, when the caller already read it (a batch).
    """
    pb = rt.playbook
    try:
        step = pb.step(touch.step)
    except KeyError:
        return _finish(session, touch, "cancelled", f"step {touch.step!r} is no longer in the playbook")
    reason = _stopped(session, lead, step, suppressed=suppressed)
    if reason:
        return _finish(session, touch, "cancelled", reason)
    quiet = quiet_until(now, lead.timezone or pb.business.timezone, pb.cadence.quiet_hours)
    if quiet is not None:
        touch.result, touch.attempted_at, touch.next_attempt_at = "skipped_quiet_hours", now, quiet
        add_activity(session, lead_id=lead.id, kind="touch", step=touch.step, result="skipped_quiet_hours",
                     until=quiet.isoformat())
        return SendResult.DEFERRED
    texts = placeholders_for(pb, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                             answers=lead.answers or {})
    body, content_sid, variables = render(step.text, **texts), None, None
    if lead.channel == "whatsapp":
        if whatsapp_window_open(lead.last_inbound_at, now):
            touch.message_type = "whatsapp_text"
        elif step.whatsapp_template is not None:
            touch.message_type = "whatsapp_template"
            content_sid = step.whatsapp_template.content_sid
            variables = {k: render(v, **texts) for k, v in step.whatsapp_template.variables.items()}
        else:
            touch.message_type = None
            skipped = _finish(session, touch, "skipped_no_template",
                              "outside WhatsApp's 24-hour window and the step has no template")
            _after_step(session, rt, lead, step)
            return skipped
    else:
        touch.message_type = "sms"
    drafted = bool(draft) and content_sid is None
    if draft and drafted:
        body = draft
    return PlannedSend(body=body, content_sid=content_sid, variables=variables, drafted=drafted,
                 awaiting=drafted and (lead.score_total or 0) >= pb.scoring.hot_at)


def record_queued(session: Session, rt: Runtime, touch: Touch, lead: Lead, send: PlannedSend, message_id: int | None,
            now: datetime) -> tuple[SendResult, int | None]:
    """Record on the touch and the lead's timeline that its outbox row ``message_id`` is queued."""
    touch.message_id, touch.attempted_at, touch.next_attempt_at = message_id, now, None
    touch.result = None
    add_activity(session, lead_id=lead.id, kind="touch", step=touch.step, message_id=message_id,
                 message_type=touch.message_type, **({"drafted": True} if send.drafted else {}),
                 **({"awaiting_approval": True} if send.awaiting else {}))
    _after_step(session, rt, lead, rt.playbook.step(touch.step))
    if send.awaiting and message_id is not None:
        ask_approval(session, rt, lead, touch.step, message_id, send.body)
        return SendResult.AWAITING_APPROVAL, message_id
    return SendResult.SENT, message_id


def enqueue_deferred(rt: Runtime, touch: Touch, now: datetime) -> None:
    """A touch deferred past quiet hours: enqueued for that time when it is within TOUCH_HORIZON_S, else left
    for the reconciler (Redis holds only what is due next)."""
    when = touch.next_attempt_at  # the deferral's end (a touch without one is the reconciler's to look at)
    if when is not None and when - now <= timedelta(seconds=rt.settings.touch_horizon_s):
        touch.job_id = rt.jobs.touch(touch.id, when)
        touch.enqueued_at = now
    else:
        touch.enqueued_at = None


def _stopped(session: Session, lead: Lead, step: Step, *, suppressed: bool | None = None) -> str | None:
    """Why this touch must not go, or None (``suppressed``: the opt-out already read, else read here)."""
    if lead.stop_reason:
        return f"cadence stopped: {lead.stop_reason}"
    if lead.status in CLOSED_STATUSES:
        return f"lead is {lead.status}"
    if lead.taken_over_by:
        return f"{lead.taken_over_by} has the conversation"
    if suppressed if suppressed is not None else is_suppressed(session, business_id=lead.business_id, address=lead.address):
        return "opted out"
    if is_reactivation(step.id, step.after_s) and lead.status != "dormant":
        return "reactivation goes only to dormant leads"
    return None


def _after_step(session: Session, rt: Runtime, lead: Lead, step: Step) -> None:
    """After the last regular step (sent or skipped) the lead is dormant; after the last step of all, stale."""
    steps = rt.playbook.cadence.steps
    regular = [s for s in steps if not is_reactivation(s.id, s.after_s)]
    if regular and step.id == regular[-1].id and lead.status in ("new", "contacted", "qualified"):
        set_status(session, lead=lead, status="dormant")
    if step.id == steps[-1].id:
        lead.stop_reason = "stale"
        if lead.status == "dormant":
            lead.lost_reason = "no_reply"  # the owner report's lost reason; a reply clears it
        add_activity(session, lead_id=lead.id, kind="cadence_stopped", reason="stale", cancelled=0)


def _finish(session: Session, touch: Touch, result: str, why: str) -> SendResult:
    touch.result, touch.next_attempt_at, touch.attempted_at = result, None, utcnow()
    add_activity(session, lead_id=touch.lead_id, kind="touch", step=touch.step, result=result, why=why)
    return SendResult.SKIPPED if result.startswith("skipped") else SendResult.CANCELLED
