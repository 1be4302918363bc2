"""What a rep or the owner does to a lead, from the dashboard, a rep's SMS command or a booking webhook.

Each function runs inside the caller's transaction, records itself on the lead's timeline
with who did it, and returns the ids of the outbox rows it queued (the caller sends them
after commit). Outbox rows are keyed, so a repeated request (a double-click, a webhook
retry) queues nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.delivery.rep_texts import notify_owner
from bot.delivery.senders import business_route, reply_route
from bot.errors import ActionRefused
from cadence import enrollment
from cadence.clock import quiet_until
from graph.drafts import MAX_CHARS
from runtime import Runtime
from store import outbox
from store.leads import CLOSED_STATUSES, add_activity, assign, set_status, who_acts_next
from store.models import LOST_REASONS, Lead, Message, utcnow
from store.suppression import is_suppressed


@dataclass(frozen=True)
class AfterCommit:
    """What an action left to do after commit: outbox rows to send, touches to put in Redis."""

    outbox_ids: list[int] = field(default_factory=list)
    touch_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Actor:
    """Who acted: ``owner`` (dashboard), a rep's name, or ``calendly``."""

    name: str


def mark_booked(session: Session, rt: Runtime, lead: Lead, *, by: Actor, key: str,
                detail: dict[str, Any] | None = None) -> AfterCommit:
    """Record a booking: status ``booked``, cadence stopped with stop ``booked``, the owner rep told.

    ``key`` identifies the booking (Calendly's invitee URI, or a dashboard form nonce) and
    makes a retry harmless. Queues the rep's notification.
    """
    if lead.status == "booked":
        return AfterCommit()
    set_status(session, lead=lead, status="booked")
    enrollment.stop(session, lead, reason="booked")
    add_activity(session, lead_id=lead.id, kind="booking", event="created", by=by.name, **(detail or {}))
    if lead.owner == by.name:
        return AfterCommit()  # the owner did it: nobody else to tell
    when = f" for {detail['start_time']}" if detail and detail.get("start_time") else ""
    return AfterCommit(notify_owner(session, rt, lead, f"Booked{when}: {_who(lead)}. Lead #{lead.id}.", key=f"booked:{key}"))


def cancel_booking(session: Session, rt: Runtime, lead: Lead, *, by: Actor, key: str,
                   detail: dict[str, Any] | None = None) -> AfterCommit:
    """A cancelled booking reopens the lead: back to ``qualified`` in the reps' queue, and in the cadence again."""
    if lead.status != "booked":
        return AfterCommit()
    set_status(session, lead=lead, status="qualified")
    lead.booked_at = None
    add_activity(session, lead_id=lead.id, kind="booking", event="canceled", by=by.name, **(detail or {}))
    touch_ids = enrollment.enroll(session, rt, lead, why="booking_canceled")
    ids = notify_owner(session, rt, lead, f"Booking cancelled: {_who(lead)}. Lead #{lead.id} is open again.",
                       key=f"canceled:{key}")
    return AfterCommit(ids, touch_ids)


def mark_won(session: Session, lead: Lead, *, by: Actor) -> None:
    """The lead became a customer: status ``won``, cadence stopped."""
    set_status(session, lead=lead, status="won")
    enrollment.stop(session, lead, reason="closed")
    add_activity(session, lead_id=lead.id, kind="note", text="Marked won.", by=by.name)


def mark_lost(session: Session, lead: Lead, *, reason: str, by: Actor) -> None:
    """The lead said no: status ``lost`` with one of ``LOST_REASONS``, cadence stopped.

    Raises:
        ActionRefused: ``reason`` is not one of ``store.models.LOST_REASONS``.
    """
    if reason not in LOST_REASONS:
        raise ActionRefused(f"lost reason must be one of {', '.join(LOST_REASONS)}")
    set_status(session, lead=lead, status="lost", lost_reason=reason)
    enrollment.stop(session, lead, reason="closed")
    add_activity(session, lead_id=lead.id, kind="note", text=f"Marked lost: {reason}.", by=by.name)


def claim(session: Session, lead: Lead, *, rep: str) -> bool:
    """A rep takes ownership of the lead (``dispatcher = rep:<name>``); False when it already was theirs."""
    return assign(session, lead=lead, owner=rep, dispatcher=f"rep:{rep}")


def take_over(session: Session, lead: Lead, *, rep: str) -> None:
    """A rep takes the conversation from the bot: the bot stays silent and the cadence stops.

    Raises:
        ActionRefused: the lead is closed (booked, won, lost, opted out…).
    """
    if lead.status in CLOSED_STATUSES:
        raise ActionRefused(f"lead is {lead.status}")
    if lead.taken_over_by == rep:
        return
    claim(session, lead, rep=rep)
    lead.taken_over_by = rep
    lead.next_action_by = who_acts_next(lead)
    enrollment.stop(session, lead, reason="closed")
    lead.stop_reason = "closed"  # even if it was never enrolled: no stall enrolment while a rep has it
    add_activity(session, lead_id=lead.id, kind="take_over", by=rep)


def hand_back(session: Session, lead: Lead, *, by: Actor) -> None:
    """Give the conversation back to the bot (it answers the lead's next message)."""
    if lead.taken_over_by is None:
        return
    lead.taken_over_by = None
    lead.next_action_by = who_acts_next(lead)
    if lead.stop_reason == "closed":
        lead.stop_reason = None  # a lead that goes quiet again may be enrolled again
    add_activity(session, lead_id=lead.id, kind="hand_back", by=by.name)


def rep_reply(session: Session, rt: Runtime, lead: Lead, *, text: str, by: Actor, key: str) -> AfterCommit:
    """The rep's typed reply, queued to go out through Twilio from the business's number.

    Raises:
        ActionRefused: empty text, or the number opted out (TCPA: nothing is sent after STOP).
    """
    text = text.strip()
    if not text:
        raise ActionRefused("the reply is empty")
    if lead.status == "opted_out" or is_suppressed(session, business_id=lead.business_id, address=lead.address):
        raise ActionRefused("this number opted out; nothing can be sent to it")
    route = (reply_route(rt.business, business_address=lead.business_address) if lead.business_address
             else business_route(rt.business, channel=lead.channel))
    row = outbox.add_outbound(session, business_id=lead.business_id, lead_id=lead.id, kind="rep_reply",
                              to_address=lead.address, body=text,
                              dedupe_key=f"rep_reply:{lead.id}:{key}", from_address=route.from_address,
                              messaging_service_sid=route.messaging_service_sid)
    if row is not None:
        add_activity(session, lead_id=lead.id, kind="message", direction="outbound", message_id=row, by=by.name)
    return AfterCommit([row] if row else [])


def add_note(session: Session, lead: Lead, *, text: str, by: Actor) -> None:
    """A free-text note on the lead's timeline.

    Raises:
        ActionRefused: the note is empty.
    """
    text = text.strip()
    if not text:
        raise ActionRefused("the note is empty")
    add_activity(session, lead_id=lead.id, kind="note", text=text[:2000], by=by.name)


def _who(lead: Lead) -> str:
    name = lead.profile_name or "a lead"
    return f"{name} {lead.phone}"


def approve_draft(session: Session, rt: Runtime, draft: Message, *, by: Actor, text: str | None = None) -> AfterCommit:
    """Send a model's draft (or the rep's edit of it, ``text``): re-checked first, then queued for sending.

    A draft is re-checked as any send is: if the lead has replied, booked, been closed or
    opted out since, it is cancelled instead; in the lead's quiet hours it waits for their end.

    Raises:
        ActionRefused: the draft is gone, already decided, or no longer applies (it is then cancelled).
    """
    if draft.outbox_state != outbox.AWAITING_APPROVAL:
        raise ActionRefused("that draft was already decided")
    lead = draft.lead
    if lead is None:  # drafts are written for a lead (and erased with it): this is no draft
        raise ActionRefused("that draft does not exist")
    why_not = None
    if lead.status in CLOSED_STATUSES:
        why_not = f"the lead is {lead.status}"
    elif lead.taken_over_by:
        why_not = f"the lead is with {lead.taken_over_by}"
    elif lead.stop_reason:
        why_not = f"its cadence stopped ({lead.stop_reason})"
    elif is_suppressed(session, business_id=lead.business_id, address=lead.address):
        why_not = "the number opted out"
    if why_not:
        draft.outbox_state = "cancelled"
        add_activity(session, lead_id=lead.id, kind="note", text=f"Draft not sent: {why_not}.", by=by.name)
        raise ActionRefused(f"not sent: {why_not}")
    if text is not None:
        text = text.strip()
        limit = MAX_CHARS.get(lead.channel, MAX_CHARS["sms"])
        if not text or len(text) > limit:
            raise ActionRefused(f"the text must be 1 to {limit} characters")
        draft.body = text
    now = utcnow()
    draft.send_after = quiet_until(now, lead.timezone or rt.playbook.business.timezone, rt.playbook.cadence.quiet_hours)
    draft.outbox_state = "pending"
    add_activity(session, lead_id=lead.id, kind="draft_approved", by=by.name, message_id=draft.id,
                 edited=text is not None)
    return AfterCommit([draft.id])
