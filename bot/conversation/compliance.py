"""Compliance keywords in a conversation: STOP, START and HELP applied before anything else, and a sender's
STOPs applied at once when a message ahead of them failed (TCPA and CTIA: an opt-out is honoured at once)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.conversation.keywords import classify, normalize
from bot.conversation.replies import reply_to
from graph.texts import render
from runtime import Runtime
from store import consent
from store.addresses import channel_of, phone_of
from store.inbound import pending_after
from store.leads import add_activity, lead_for_address, mark_processed, set_status
from store.models import Lead, Message
from store.suppression import is_suppressed

log = logging.getLogger(__name__)


def opt_outs_first(rt: Runtime, sender: str, *, after: int) -> int:
    """Apply every STOP the sender sent after message ``after`` now, ahead of that message's turn.

    Used when ``after``'s turn has failed: whatever becomes of it, the opt-out takes effect within
    seconds (TCPA and CTIA: an opt-out is honoured at once), and nothing more is sent to the number
    (every send re-checks the suppression list). Only keyword matching runs before the opt-out is
    written, so nothing about the message can make this fail. Each STOP is marked processed;
    every other message keeps its place in the conversation. Returns how many were applied.
    """
    phone, channel, business_id = phone_of(sender), channel_of(sender), rt.business.id
    applied = 0
    with rt.sessions.begin() as session:
        for message in pending_after(session, business_id=business_id, from_address=sender, after_id=after):
            if classify(message.body or "") != "opt_out":
                continue
            consent.opt_out(session, business_id=business_id, phone=phone, keyword=normalize(message.body),
                            text=message.body)
            lead = lead_for_address(session, business_id=business_id, channel=channel, phone=phone)
            if lead is not None and message.lead_id is None:
                message.lead_id = lead.id
                add_activity(session, lead_id=lead.id, kind="message", direction="inbound", message_id=message.id)
            mark_processed(session, message_id=message.id)
            applied += 1
    if applied:
        log.warning("applied %s opt-out(s) ahead of message %s, whose turn failed", applied, after)
    return applied


def compliance(session: Session, rt: Runtime, message: Message, lead: Lead) -> list[int] | None:
    """Apply STOP/START/HELP and the opt-out state; None when the graph should run."""
    keyword = classify(message.body or "")
    if keyword == "opt_out":
        consent.opt_out(session, business_id=lead.business_id, phone=lead.phone, keyword=normalize(message.body),
                        text=message.body)
        return []
    if is_suppressed(session, business_id=lead.business_id, address=lead.address):
        if keyword == "opt_in" and consent.opt_in(session, business_id=lead.business_id, phone=lead.phone,
                                                  text=message.body or ""):
            text = render(rt.playbook.business.resubscribed_text, business=rt.playbook.business.name)
            return reply_to(session, rt, lead, message, text)
        if lead.status != "opted_out":  # first contact on another channel after the opt-out
            set_status(session, lead=lead, status="opted_out", lost_reason="opted_out")
        return []  # opted out: the message is kept, nothing is sent
    if keyword == "help":
        return reply_to(session, rt, lead, message, rt.playbook.business.help_text)
    return None
