"""Running one touch: re-check the lead, respect its clock, pick the WhatsApp message type, queue the send.

Everything is re-read from the database when the job runs, so a reply, booking or STOP
committed at any time before wins; and the send itself goes through the outbox, which
re-checks the opt-out once more right before the Twilio call.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadence.clock import quiet_until, whatsapp_window_open
from cadence.delivery import Delivery, deliver
from cadence.enrollment import enqueue_touch, is_reactivation
from cadence.routing import business_route
from cadence.runtime import Runtime
from graph.playbook import Step
from graph.texts import placeholders_for, render
from store import outbox
from store.leads import CLOSED_STATUSES, add_activity, set_status
from store.models import Lead, Touch, utcnow
from store.suppression import is_suppressed

log = logging.getLogger(__name__)

EARLY_WAIT = timedelta(seconds=1.5)
"""RQ's scheduler keeps ``enqueue_at`` times in whole seconds (``calendar.timegm``), so a touch job can be
released up to a second early; a job that early waits out the rest rather than send before its time."""


class TouchRun(str, Enum):
    """What running a touch job did."""

    SENT = "sent"
    QUEUED = "queued"
    """The send is in the outbox but Twilio was not reached; it will be retried."""
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    NOT_DUE = "not_due"
    DONE = "done"
    """Nothing owed (already sent, cancelled, or gone)."""
    AWAITING_APPROVAL = "awaiting_approval"
    """A model's draft for a hot lead waits for a rep's approval (dashboard, or YES / EDIT by SMS)."""


def run_touch(rt: Runtime, touch_id: int) -> TouchRun:
    """Run touch ``touch_id`` if it is owed and due; never before its time; safe to run any number of times."""
    with rt.sessions() as session:
        due = session.scalar(select(Touch.next_attempt_at).where(Touch.id == touch_id))
    if due is not None and 0 < (due - utcnow()).total_seconds() <= EARLY_WAIT.total_seconds():
        time.sleep((due - utcnow()).total_seconds())
    draft = personal_draft(rt, touch_id) if rt.llm is not None else None  # before the transaction: a slow model holds no lock
    now = utcnow()
    with rt.sessions.begin() as session:
        touch = session.get(Touch, touch_id, with_for_update=True)
        if touch is None or touch.result not in (None, "skipped_quiet_hours") or touch.message_id is not None:
            return TouchRun.DONE
        if touch.next_attempt_at is None:
            return TouchRun.DONE
        if touch.next_attempt_at > now:
            touch.job_id = enqueue_touch(rt.queue, touch.id, touch.next_attempt_at)  # never early
            return TouchRun.NOT_DUE
        lead = touch.lead
        outcome, message_id = _prepare(session, rt, touch, lead, now, draft=draft)
    if outcome is TouchRun.DEFERRED:
        with rt.sessions.begin() as session:
            touch = session.get(Touch, touch_id)
            if touch.next_attempt_at - now <= timedelta(seconds=rt.settings.touch_horizon_s):
                touch.job_id = enqueue_touch(rt.queue, touch_id, touch.next_attempt_at)
                touch.enqueued_at = now
            else:
                touch.enqueued_at = None  # the reconciler enqueues it when it comes within the horizon
    if outcome is TouchRun.AWAITING_APPROVAL:
        _send_approval_requests(rt, message_id)
        return outcome
    if message_id is None:
        return outcome
    delivered = deliver(rt, message_id)
    return {Delivery.SENT: TouchRun.SENT, Delivery.RETRY: TouchRun.QUEUED, Delivery.THROTTLED: TouchRun.QUEUED,
            Delivery.WAITING: TouchRun.QUEUED}.get(delivered, TouchRun.DONE)


def _prepare(session: Session, rt: Runtime, touch: Touch, lead: Lead, now: datetime,
             draft: str | None = None) -> tuple[TouchRun, int | None]:
    """Decide the touch's fate in the job's transaction; returns the outbox id when a send was queued.

    ``draft``: a model's personal version of the step's text, already checked; used for a free-text
    send (never instead of a WhatsApp template). A hot lead's draft waits for a rep's approval.
    """
    pb = rt.playbook
    try:
        step = pb.step(touch.step)
    except KeyError:
        return _finish(session, touch, "cancelled", f"step {touch.step!r} is no longer in the playbook"), None
    reason = _stopped(session, lead, step)
    if reason:
        return _finish(session, touch, "cancelled", reason), None
    quiet = quiet_until(now, lead.timezone or pb.business.timezone, pb.cadence.quiet_hours)
    if quiet is not None:
        touch.result, touch.attempted_at, touch.next_attempt_at = "skipped_quiet_hours", now, quiet
        add_activity(session, lead_id=lead.id, kind="touch", step=touch.step, result="skipped_quiet_hours",
                     until=quiet.isoformat())
        return TouchRun.DEFERRED, None
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
            return skipped, None
    else:
        touch.message_type = "sms"
    awaiting = False
    if draft and content_sid is None:
        body = draft
        awaiting = (lead.score_total or 0) >= pb.scoring.hot_at
    route = business_route(rt.settings, channel=lead.channel)
    message_id = outbox.add_outbound(
        session, lead_id=lead.id, kind="touch", to_address=lead.address, body=body, dedupe_key=f"touch:{touch.id}",
        from_address=route.from_address, messaging_service_sid=route.messaging_service_sid,
        content_sid=content_sid, content_variables=variables,
        state=outbox.AWAITING_APPROVAL if awaiting else "pending")
    touch.message_id, touch.attempted_at, touch.next_attempt_at = message_id, now, None
    touch.result = None
    add_activity(session, lead_id=lead.id, kind="touch", step=touch.step, message_id=message_id,
                 message_type=touch.message_type, **({"drafted": True} if draft and content_sid is None else {}),
                 **({"awaiting_approval": True} if awaiting else {}))
    _after_step(session, rt, lead, step)
    if awaiting and message_id is not None:
        _ask_approval(session, rt, lead, touch.step, message_id, body)
        return TouchRun.AWAITING_APPROVAL, message_id
    return TouchRun.SENT, message_id


def _ask_approval(session: Session, rt: Runtime, lead: Lead, step: str, message_id: int, body: str) -> None:
    """Text the lead's owner the draft with how to approve it; the notification goes with the job's other sends."""
    from cadence.lead_actions import notify_owner

    text = (f"Draft for {lead.profile_name or 'lead'} #{lead.id} ({step}):\n{body}\n"
            f"Reply YES {lead.id} to send it, or EDIT {lead.id} <your text>.")
    notify_owner(session, rt, lead, text, key=f"draft:{message_id}")


def _send_approval_requests(rt: Runtime, message_id: int) -> None:
    """Send the still-pending approval requests for draft ``message_id`` (safe to repeat)."""
    from store.models import Message

    with rt.sessions() as session:
        ids = session.scalars(select(Message.id).where(Message.dedupe_key.like(f"rep:%:draft:{message_id}"),
                                                       Message.outbox_state == "pending")).all()
    for row in ids:
        deliver(rt, row)


def personal_draft(rt: Runtime, touch_id: int) -> str | None:
    """A model's personal version of the touch's text from the lead's answers and recent messages, checked
    (``graph.drafts``); None when there is no model, the touch is not a free-text send, or the draft fails."""
    from graph.drafts import check_draft, digits_in, playbook_urls, urls_in
    from store.models import Message

    pb = rt.playbook
    with rt.sessions() as session:
        touch = session.get(Touch, touch_id)
        if touch is None or touch.result not in (None, "skipped_quiet_hours") or touch.message_id is not None:
            return None
        lead = touch.lead
        try:
            step = pb.step(touch.step)
        except KeyError:
            return None
        if lead.channel == "whatsapp" and not whatsapp_window_open(lead.last_inbound_at, utcnow()):
            return None  # outside the 24-hour window only the approved template may go
        texts = placeholders_for(pb, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                                 answers=lead.answers or {})
        template = render(step.text, **texts)
        history = session.scalars(select(Message).where(Message.lead_id == lead.id, Message.kind.in_(
            ("prospect", "reply", "touch", "first_touch"))).order_by(Message.id.desc()).limit(8)).all()
        lines = [f"{'Prospect' if m.direction == 'inbound' else 'Us'}: {m.body}" for m in reversed(history) if m.body]
        answers = ", ".join(f"{k}: {v}" for k, v in (lead.answers or {}).items() if v is not None) or "none yet"
        channel, lead_id = lead.channel, lead.id
    allowed_urls = playbook_urls(pb) | urls_in([template])
    allowed_numbers = digits_in([t for _, t in pb.texts()])
    instructions = (
        f"You write one short follow-up text message for {pb.business.name}. Keep the meaning and every link of "
        "the template, make it personal from the lead's answers and the conversation, sound like a person, "
        "use no placeholders, add no links or phone numbers, and answer with the message text only.")
    material = f"Template:\n{template}\n\nLead's answers: {answers}\nConversation so far:\n" + "\n".join(lines)
    return rt.llm.write("draft", instructions, material, lead_id=lead_id, check=lambda text: check_draft(
        text, channel=channel, allowed_urls=allowed_urls, allowed_numbers=allowed_numbers))


def _stopped(session: Session, lead: Lead, step: Step) -> str | None:
    """Why this touch must not go, or None."""
    if lead.stop_reason:
        return f"cadence stopped: {lead.stop_reason}"
    if lead.status in CLOSED_STATUSES:
        return f"lead is {lead.status}"
    if lead.taken_over_by:
        return f"{lead.taken_over_by} has the conversation"
    if is_suppressed(session, address=lead.address):
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


def _finish(session: Session, touch: Touch, result: str, why: str) -> TouchRun:
    touch.result, touch.next_attempt_at, touch.attempted_at = result, None, utcnow()
    add_activity(session, lead_id=touch.lead_id, kind="touch", step=touch.step, result=result, why=why)
    return TouchRun.SKIPPED if result.startswith("skipped") else TouchRun.CANCELLED
