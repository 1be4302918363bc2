"""The CRM note: a few lines a model writes about a lead's conversation when it reaches an outcome.

Written once per lead (a ``crm_note`` entry on the timeline); a failed or refused model
call writes nothing and logs why. The note is for reps only and never sent.
"""

from __future__ import annotations

from graph import prompts
from graph.drafts import playbook_urls, urls_in
from runtime import Runtime
from store.leads import add_activity, conversation, has_activity
from store.models import Lead

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
        if has_activity(session, lead_id=lead_id, kind="crm_note"):
            return False
        lead = session.get(Lead, lead_id)
        if lead is None:
            return False
        material = prompts.crm_note_material(
            status=lead.status, grade=lead.grade, score=lead.score_total, answers=lead.answers or {},
            conversation=conversation(session, lead_id=lead_id,
                                      kinds=("prospect", "reply", "first_touch", "touch", "rep_reply")))
    allowed = playbook_urls(rt.playbook)
    note = rt.llm.write("summary", prompts.CRM_NOTE, material, lead_id=lead_id, check=lambda text: check_note(text, allowed))
    if note is None:
        return False
    with rt.sessions.begin() as session:
        if has_activity(session, lead_id=lead_id, kind="crm_note"):
            return False
        add_activity(session, lead_id=lead_id, kind="crm_note", text=note)
    return True
