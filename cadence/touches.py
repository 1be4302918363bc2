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
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.delivery.rep_texts import notify_owner
from bot.delivery.send import Outcome
from bot.delivery.send import send as send_row
from bot.delivery.senders import business_route
from cadence.clock import quiet_until, whatsapp_window_open
from cadence.enrollment import is_reactivation
from graph.playbook import Step
from graph.texts import placeholders_for, render
from runtime import Runtime
from store import outbox
from store.leads import CLOSED_STATUSES, add_activity, set_status
from store.models import Lead, Message, Suppression, Touch, utcnow
from store.suppression import is_suppressed, phone_hash

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

    @classmethod
    def of_send(cls, outcome: Outcome) -> TouchRun:
        """What a touch did, given what its send did: sent; queued again when Twilio could not take it yet
        (not reached, asked to slow down, or an earlier message to the lead still owed); else nothing owed."""
        if outcome is Outcome.SENT:
            return cls.SENT
        return cls.QUEUED if outcome in (Outcome.RETRY, Outcome.THROTTLED, Outcome.WAITING) else cls.DONE


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
            touch.job_id = rt.jobs.touch(touch.id, touch.next_attempt_at)  # never early
            return TouchRun.NOT_DUE
        lead = touch.lead
        outcome, message_id = _prepare(session, rt, touch, lead, now, draft=draft)
    if outcome is TouchRun.DEFERRED:
        with rt.sessions.begin() as session:
            _enqueue_deferred(rt, session.get(Touch, touch_id), now)
    if outcome is TouchRun.AWAITING_APPROVAL:
        _send_approval_requests(rt, message_id)
        return outcome
    if message_id is None:
        return outcome
    return TouchRun.of_send(send_row(rt, message_id))


@dataclass(frozen=True)
class _Send:
    """A touch decided to go: what its outbox row says."""

    body: str | None
    content_sid: str | None
    variables: dict[str, str] | None
    drafted: bool
    awaiting: bool


def _prepare(session: Session, rt: Runtime, touch: Touch, lead: Lead, now: datetime,
             draft: str | None = None) -> tuple[TouchRun, int | None]:
    """Decide the touch's fate in the job's transaction; returns the outbox id when a send was queued.

    ``draft``: a model's personal version of the step's text, already checked; used for a free-text
    send (never instead of a WhatsApp template). A hot lead's draft waits for a rep's approval.
    """
    decided = _decide(session, rt, touch, lead, now, draft=draft)
    if isinstance(decided, TouchRun):
        return decided, None
    route = business_route(rt.settings, channel=lead.channel)
    message_id = outbox.add_outbound(
        session, lead_id=lead.id, kind="touch", to_address=lead.address, body=decided.body,
        dedupe_key=f"touch:{touch.id}", from_address=route.from_address,
        messaging_service_sid=route.messaging_service_sid, content_sid=decided.content_sid,
        content_variables=decided.variables, state=outbox.AWAITING_APPROVAL if decided.awaiting else "pending")
    return _queued(session, rt, touch, lead, decided, message_id, now)


def _decide(session: Session, rt: Runtime, touch: Touch, lead: Lead, now: datetime, *, draft: str | None = None,
            suppressed: bool | None = None) -> TouchRun | _Send:
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
        return TouchRun.DEFERRED
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
    if drafted:
        body = draft
    return _Send(body=body, content_sid=content_sid, variables=variables, drafted=drafted,
                 awaiting=drafted and (lead.score_total or 0) >= pb.scoring.hot_at)


def _queued(session: Session, rt: Runtime, touch: Touch, lead: Lead, send: _Send, message_id: int | None,
            now: datetime) -> tuple[TouchRun, int | None]:
    """Record on the touch and the lead's timeline that its outbox row ``message_id`` is queued."""
    touch.message_id, touch.attempted_at, touch.next_attempt_at = message_id, now, None
    touch.result = None
    add_activity(session, lead_id=lead.id, kind="touch", step=touch.step, message_id=message_id,
                 message_type=touch.message_type, **({"drafted": True} if send.drafted else {}),
                 **({"awaiting_approval": True} if send.awaiting else {}))
    _after_step(session, rt, lead, rt.playbook.step(touch.step))
    if send.awaiting and message_id is not None:
        _ask_approval(session, rt, lead, touch.step, message_id, send.body)
        return TouchRun.AWAITING_APPROVAL, message_id
    return TouchRun.SENT, message_id


def prepare_batch(rt: Runtime, touch_ids: list[int], now: datetime) -> tuple[dict[int, TouchRun], list[int]]:
    """Decide a batch of touches due by ``now`` (UTC) in one transaction of a handful of statements, and queue
    their sends; returns each decided touch's outcome and the outbox ids to hand to Twilio now.

    The same rules as :func:`run_touch` (no model drafts: a batch is for the playbook's own texts): the
    touches are locked, re-read with their leads and the opt-out list, and each is stopped, skipped,
    deferred to the end of the lead's quiet hours, or queued. A touch not due yet is enqueued again
    for its time (never early). A touch whose send was queued by an earlier run of the batch that
    never sent it (the worker stopped) has that row returned again; the outbox claim keeps it to one send.
    """
    outcomes: dict[int, TouchRun] = {}
    sends: list[int] = []
    with rt.sessions.begin() as session:
        batch = session.scalars(select(Touch).where(Touch.id.in_(touch_ids)).order_by(Touch.id)
                                .with_for_update(of=Touch)).all()
        leads = {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.id.in_({t.lead_id for t in batch})))}
        unsent = {t.message_id: t.id for t in batch if t.message_id is not None and t.result is None}
        if unsent:
            for message_id in session.scalars(select(Message.id).where(Message.id.in_(unsent),
                                                                       Message.outbox_state == "pending")):
                sends.append(message_id)
                outcomes[unsent[message_id]] = TouchRun.SENT
        owed = []
        for touch in batch:
            if touch.id in outcomes:
                continue
            if touch.result not in (None, "skipped_quiet_hours") or touch.message_id is not None \
                    or touch.next_attempt_at is None:
                outcomes[touch.id] = TouchRun.DONE
            elif touch.next_attempt_at > now:
                touch.job_id = rt.jobs.touch(touch.id, touch.next_attempt_at)  # never early
                outcomes[touch.id] = TouchRun.NOT_DUE
            else:
                owed.append(touch)
        hashes = {phone_hash(leads[t.lead_id].address) for t in owed}
        suppressed = set(session.scalars(select(Suppression.phone_hash).where(Suppression.phone_hash.in_(hashes)))) \
            if hashes else set()
        keys = [f"touch:{t.id}" for t in owed]
        taken = outbox.queued_keys(session, keys)
        queued: list[tuple[Touch, Lead, _Send, Message | None]] = []
        for touch in owed:
            lead = leads[touch.lead_id]
            decided = _decide(session, rt, touch, lead, now, suppressed=phone_hash(lead.address) in suppressed)
            if isinstance(decided, TouchRun):
                outcomes[touch.id] = decided
                if decided is TouchRun.DEFERRED:
                    _enqueue_deferred(rt, touch, now)
                continue
            row = None
            if f"touch:{touch.id}" not in taken:
                route = business_route(rt.settings, channel=lead.channel)
                row = outbox.new_outbound(
                    lead_id=lead.id, kind="touch", to_address=lead.address, body=decided.body,
                    dedupe_key=f"touch:{touch.id}", from_address=route.from_address,
                    messaging_service_sid=route.messaging_service_sid, content_sid=decided.content_sid,
                    content_variables=decided.variables,
                    state=outbox.AWAITING_APPROVAL if decided.awaiting else "pending")
                session.add(row)
            queued.append((touch, lead, decided, row))
        session.flush()  # the new outbox rows, inserted together, get their ids
        for touch, lead, decided, row in queued:
            outcome, message_id = _queued(session, rt, touch, lead, decided, row.id if row else None, now)
            outcomes[touch.id] = outcome
            if outcome is TouchRun.SENT and message_id is not None:
                sends.append(message_id)
    return outcomes, sends


def _enqueue_deferred(rt: Runtime, touch: Touch, now: datetime) -> None:
    """A touch deferred past quiet hours: enqueued for that time when it is within TOUCH_HORIZON_S, else left
    for the reconciler (Redis holds only what is due next)."""
    if touch.next_attempt_at - now <= timedelta(seconds=rt.settings.touch_horizon_s):
        touch.job_id = rt.jobs.touch(touch.id, touch.next_attempt_at)
        touch.enqueued_at = now
    else:
        touch.enqueued_at = None


def _ask_approval(session: Session, rt: Runtime, lead: Lead, step: str, message_id: int, body: str) -> None:
    """Text the lead's owner the draft with how to approve it; the notification goes with the job's other sends."""
    text = (f"Draft for {lead.profile_name or 'lead'} #{lead.id} ({step}):\n{body}\n"
            f"Reply YES {lead.id} to send it, or EDIT {lead.id} <your text>.")
    notify_owner(session, rt, lead, text, key=f"draft:{message_id}")


def _send_approval_requests(rt: Runtime, message_id: int) -> None:
    """Send the still-pending approval requests for draft ``message_id`` (safe to repeat)."""
    with rt.sessions() as session:
        ids = session.scalars(select(Message.id).where(Message.dedupe_key.like(f"rep:%:draft:{message_id}"),
                                                       Message.outbox_state == "pending")).all()
    for row in ids:
        send_row(rt, row)


def personal_draft(rt: Runtime, touch_id: int) -> str | None:
    """A model's personal version of the touch's text from the lead's answers and recent messages, checked
    (``graph.drafts``); None when there is no model, the touch is not a free-text send, or the draft fails."""
    from graph.drafts import check_draft, digits_in, playbook_urls, urls_in

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


def _stopped(session: Session, lead: Lead, step: Step, *, suppressed: bool | None = None) -> str | None:
    """Why this touch must not go, or None (``suppressed``: the opt-out already read, else read here)."""
    if lead.stop_reason:
        return f"cadence stopped: {lead.stop_reason}"
    if lead.status in CLOSED_STATUSES:
        return f"lead is {lead.status}"
    if lead.taken_over_by:
        return f"{lead.taken_over_by} has the conversation"
    if suppressed if suppressed is not None else is_suppressed(session, address=lead.address):
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
