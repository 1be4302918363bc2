"""Commands a rep texts to the bot's number from a rep phone: ``CLAIM <id>``, ``BOOKED <id>``,
``LOST <id> <reason>``. Anything else is answered with the usage.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from bot.delivery.senders import reply_route
from bot.errors import ActionRefused
from bot.reps import actions as lead_actions
from bot.reps.actions import Actor
from graph.playbook import Rep
from runtime import Runtime
from store import outbox
from store.bounds import row_id
from store.drafts import pending_draft
from store.models import LOST_REASONS, Lead, Message

COMMAND = re.compile(r"^\s*(claim|booked|lost)\s+#?([0-9]+)\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
APPROVAL = re.compile(r"^\s*(yes|edit)\b\s*#?([0-9]+)?\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
USAGE = ("Leadline rep commands: CLAIM <lead id>, BOOKED <lead id>, LOST <lead id> <reason>, "
         "YES <lead id> (send its draft), EDIT <lead id> <text>. "
         f"Reasons: {', '.join(LOST_REASONS)}.")


def lost_reason(text: str) -> str | None:
    """A rep's reason (``"no capacity"``, ``"Price"``…) as one of ``LOST_REASONS``, or None."""
    reason = re.sub(r"[\s-]+", "_", text.strip().lower())
    return reason if reason in LOST_REASONS else None


def _lead_id(text: str) -> int | None:
    """A lead id the rep typed, or None when no lead could have it (store.bounds.row_id)."""
    try:
        return row_id(text)
    except ValueError:
        return None


def handle(session: Session, rt: Runtime, message: Message, rep: Rep) -> lead_actions.AfterCommit:
    """Carry out the command in ``message`` from ``rep`` and answer it; returns what to send after commit."""
    assert message.from_address is not None  # an inbound row, matched to ``rep`` by its sender (turns._rep_sender)
    answer, queued = _run(session, rt, (message.body or "").strip(), rep, key=f"sms:{message.id}")
    route = reply_route(rt.business, business_address=message.to_address)
    row = outbox.add_outbound(session, business_id=message.business_id, lead_id=None, kind="rep_reply",
                              to_address=message.from_address, body=answer,
                              dedupe_key=f"reply:{message.id}:0", from_address=route.from_address,
                              messaging_service_sid=route.messaging_service_sid)
    return lead_actions.AfterCommit(([row] if row else []) + queued.outbox_ids, queued.touch_ids)


def _run(session: Session, rt: Runtime, body: str, rep: Rep, *, key: str) -> tuple[str, lead_actions.AfterCommit]:
    approval = APPROVAL.match(body)
    if approval is not None:
        return _approve(session, rt, rep, approval.group(1).lower(), approval.group(2), approval.group(3))
    match = COMMAND.match(body)
    if match is None:
        return USAGE, lead_actions.AfterCommit()
    verb, rest = match.group(1).lower(), match.group(3)
    lead_id = _lead_id(match.group(2))
    lead = session.get(Lead, lead_id) if lead_id is not None else None
    if lead is None or lead.business_id != rt.business.id:  # another business's lead is no lead of this rep's
        return f"No lead #{match.group(2)[:12]}. {USAGE}", lead_actions.AfterCommit()
    who = f"{lead.profile_name} {lead.phone}" if lead.profile_name else lead.phone
    actor = Actor(rep.name)
    if verb == "claim":
        lead_actions.claim(session, lead, rep=rep.name)
        return f"Lead #{lead_id} ({who}) is yours, {rep.name}.", lead_actions.AfterCommit()
    if verb == "booked":
        queued = lead_actions.mark_booked(session, rt, lead, by=actor, key=key)
        return f"Lead #{lead_id} marked booked; its follow-ups are stopped.", queued
    reason = lost_reason(rest)
    if reason is None:
        return f"LOST needs a reason: LOST {lead_id} <reason>. Reasons: {', '.join(LOST_REASONS)}.", lead_actions.AfterCommit()
    try:
        lead_actions.mark_lost(session, lead, reason=reason, by=actor)
    except ActionRefused as exc:
        return str(exc), lead_actions.AfterCommit()
    return f"Lead #{lead_id} marked lost ({reason}); its follow-ups are stopped.", lead_actions.AfterCommit()


def _approve(session: Session, rt: Runtime, rep: Rep, verb: str, lead_id: str | None,
             text: str) -> tuple[str, lead_actions.AfterCommit]:
    """YES [id] sends the newest draft awaiting approval (of that lead, else of the rep's leads); EDIT [id] <text>
    sends the rep's text instead."""
    if verb == "edit" and not text:
        return "EDIT needs your text: EDIT <lead id> <text>.", lead_actions.AfterCommit()
    if verb == "yes" and text:
        return USAGE, lead_actions.AfterCommit()
    if lead_id and _lead_id(lead_id) is None:
        return f"No lead #{lead_id[:12]}. {USAGE}", lead_actions.AfterCommit()
    draft = pending_draft(session, business_id=rt.business.id, lead_id=_lead_id(lead_id) if lead_id else None,
                                       owner=None if lead_id else rep.name)
    if draft is None:
        where = f" for lead #{lead_id}" if lead_id else ""
        return f"No draft is waiting for approval{where}.", lead_actions.AfterCommit()
    try:
        queued = lead_actions.approve_draft(session, rt, draft, by=Actor(rep.name), text=text if verb == "edit" else None)
    except ActionRefused as exc:
        return f"Lead #{draft.lead_id}: {exc}.", lead_actions.AfterCommit()
    return f"Lead #{draft.lead_id}: {'your text' if verb == 'edit' else 'the draft'} is on its way.", queued
