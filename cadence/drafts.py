"""A model's personal draft of a follow-up touch, and a hot lead's draft waiting for a rep's approval (the
approval request texted to the owner; YES / EDIT or the dashboard send it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.delivery.rep_texts import notify_owner
from bot.delivery.send import send as send_row
from cadence.clock import whatsapp_window_open
from graph import prompts
from graph.drafts import check_draft, digits_in, playbook_urls, urls_in
from graph.texts import placeholders_for, render
from runtime import Runtime
from store.drafts import unsent_approval_requests
from store.leads import conversation
from store.models import Lead, Touch, utcnow
from store.touches import is_owed


def ask_approval(session: Session, rt: Runtime, lead: Lead, step: str, message_id: int, body: str) -> None:
    """Text the lead's owner the draft with how to approve it; the notification goes with the job's other sends."""
    text = (f"Draft for {lead.profile_name or 'lead'} #{lead.id} ({step}):\n{body}\n"
            f"Reply YES {lead.id} to send it, or EDIT {lead.id} <your text>.")
    notify_owner(session, rt, lead, text, key=f"draft:{message_id}")


def send_approval_requests(rt: Runtime, message_id: int) -> None:
    """Send the still-pending approval requests for draft ``message_id`` (safe to repeat)."""
    with rt.sessions() as session:
        ids = unsent_approval_requests(session, draft_id=message_id)
    for row in ids:
        send_row(rt, row)


def personal_draft(rt: Runtime, touch_id: int) -> str | None:
    """A model's personal version of the touch's text from the lead's answers and recent messages, checked
    (``graph.drafts``); None when there is no model, the touch is not a free-text send, or the draft fails."""
    pb, llm = rt.playbook, rt.llm
    if llm is None:
        return None
    with rt.sessions() as session:
        touch = session.get(Touch, touch_id)
        if touch is None or not is_owed(touch):
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
        material = prompts.draft_material(template=template, answers=lead.answers or {}, conversation=conversation(
            session, lead_id=lead.id, kinds=("prospect", "reply", "touch", "first_touch"), last=8))
        channel, lead_id = lead.channel, lead.id
    allowed_urls = playbook_urls(pb) | urls_in([template])
    allowed_numbers = digits_in([t for _, t in pb.texts()])
    return llm.write("draft", prompts.draft(pb), material, lead_id=lead_id, check=lambda text: check_draft(
        text, channel=channel, allowed_urls=allowed_urls, allowed_numbers=allowed_numbers))
