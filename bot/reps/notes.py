"""The CRM note: a few lines a model writes about a lead's conversation when it reaches an outcome.

Written once per lead (a ``crm_note`` entry on the timeline); a failed or refused model
call writes nothing and logs why. The note is for reps only and never sent.
"""

from __future__ import annotations

from sqlalchemy import select

from graph.drafts import playbook_urls, urls_in
from runtime import Runtime
from store.leads import add_activity
from store.models import Activity, Lead, Message

MAX_NOTE_CHARS = 600


def check_note(text: str, allowed_urls: set[str]) -> str | None:
    """Why a note may not be kept, or None: too long, or carrying a link that is not the playbook's."""
    if len(text) > MAX_NOTE_CHARS:
        return f"too long ({len(text)} > {MAX_NOTE_CHARS} characters)"
    if any(not any(u.startswith(a) for a in allowed_urls) for u in urls_in([text])):
        return "link not in the playbook"
    return None


def note_conversation(rt: Runtime, lead_id: int) -> bool:
    """Summarise the lead's conversation on its timeline; False when there is no model, a note exists, or the call failed."""
    if rt.llm is None:
        return False
    with rt.sessions() as session:
        if session.scalar(select(Activity.id).where(Activity.lead_id == lead_id, Activity.kind == "crm_note")):
            return False
        lead = session.get(Lead, lead_id)
        if lead is None:
            return False
        rows = session.scalars(select(Message).where(Message.lead_id == lead_id, Message.kind.in_(
            ("prospect", "reply", "first_touch", "touch", "rep_reply"))).order_by(Message.id)).all()
        transcript = "\n".join(f"{'Prospect' if m.direction == 'inbound' else 'Us'}: {m.body}" for m in rows if m.body)
        facts = (f"Status: {lead.status}. Grade {lead.grade}, score {lead.score_total}. Answers: "
                 + ", ".join(f"{k}={v}" for k, v in (lead.answers or {}).items()))
    allowed = playbook_urls(rt.playbook)
    note = rt.llm.write(
        "summary", "Write a CRM note for a sales rep: 2 to 4 short lines on what the prospect needs, how urgent "
        "it is, anything they said that matters for the call, and the outcome. Plain text, no greeting.",
        f"{facts}\nConversation:\n{transcript[-5000:]}", lead_id=lead_id,
        check=lambda text: check_note(text, allowed))
    if note is None:
        return False
    with rt.sessions.begin() as session:
        if session.scalar(select(Activity.id).where(Activity.lead_id == lead_id, Activity.kind == "crm_note")):
            return False
        add_activity(session, lead_id=lead_id, kind="crm_note", text=note)
    return True
