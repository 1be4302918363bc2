"""The lead page's forms that act on a lead: booked, won, lost, claim, take over, hand back, reply, approve a
draft, note.

Each acts only on a lead of the request's business (:func:`web.dashboard.blueprint.runtime`): another
business's lead is a 404, as one that does not exist, and nothing is changed. Each runs one action of
:mod:`bot.reps.actions` on the lead in one transaction; after the commit, what the action left in the outbox
and the touches it owes go to the runtime's jobs port; then the browser goes back to the lead page, with a
flash saying what was done or why not. The actor on the lead's timeline is the form's ``rep`` when the business's
playbook names that rep, else the signed-in user.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import flash, g, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from bot.errors import ActionRefused
from bot.reps import actions as rep_actions
from bot.reps.actions import Actor, AfterCommit
from runtime import Runtime
from store.leads import CLOSED_STATUSES
from store.models import Lead, Message
from web.dashboard.blueprint import bp, runtime
from web.dashboard.pages import lead_or_404

Action = Callable[[Session, Runtime, Lead], Any]
"""What a form does to its lead, in the request's transaction; it may return :class:`bot.reps.actions.AfterCommit`."""


def _act(lead_id: int, action: Action, done: str) -> Response:
    """Run an action on the lead in one transaction, hand what it left (when it returns
    :class:`bot.reps.actions.AfterCommit`) to the jobs port after the commit, and go back to the lead page."""
    rt = runtime()
    try:
        with rt.sessions.begin() as db:
            result = action(db, rt, lead_or_404(db, lead_id, business_id=rt.business.id))
            queued = result if isinstance(result, AfterCommit) else AfterCommit()
    except ActionRefused as exc:
        flash(f"Not done: {exc}.", "error")
        return redirect(url_for("dashboard.lead_page", lead_id=lead_id))
    rt.jobs.after_commit(outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
    flash(done, "ok")
    return redirect(url_for("dashboard.lead_page", lead_id=lead_id))


def _actor() -> Actor:
    """Who acts: the form's ``rep`` when the playbook names that rep, else the signed-in user (their username)."""
    rep = request.form.get("rep", "").strip()
    return Actor(rep if rep and runtime().playbook.rep_named(rep) else g.viewer.account.username)


@bp.post("/leads/<row_id:lead_id>/booked")
def mark_booked(lead_id: int) -> Response:
    """Mark the lead booked (the form's nonce makes a resubmission a no-op); its follow-ups stop."""
    key = f"dashboard:{request.form.get('nonce', '')}"
    return _act(lead_id, lambda db, rt, lead: rep_actions.mark_booked(db, rt, lead, by=_actor(), key=key),
                "Marked booked; its follow-ups are stopped.")


@bp.post("/leads/<row_id:lead_id>/won")
def mark_won(lead_id: int) -> Response:
    """Mark the lead won."""
    return _act(lead_id, lambda db, rt, lead: rep_actions.mark_won(db, lead, by=_actor()), "Marked won.")


@bp.post("/leads/<row_id:lead_id>/lost")
def mark_lost(lead_id: int) -> Response:
    """Mark the lead lost, for the form's ``reason`` (one of :data:`store.models.LOST_REASONS`)."""
    reason = request.form.get("reason", "")
    return _act(lead_id, lambda db, rt, lead: rep_actions.mark_lost(db, lead, reason=reason, by=_actor()),
                f"Marked lost ({reason}).")


@bp.post("/leads/<row_id:lead_id>/claim")
def claim(lead_id: int) -> Response:
    """Assign the lead to the acting rep."""
    rep = _actor().name
    return _act(lead_id, lambda db, rt, lead: rep_actions.claim(db, lead, rep=rep), f"Assigned to {rep}.")


@bp.post("/leads/<row_id:lead_id>/take-over")
def take_over(lead_id: int) -> Response:
    """The acting rep takes the conversation: the bot falls silent and the lead's messages are forwarded."""
    rep = _actor().name
    return _act(lead_id, lambda db, rt, lead: rep_actions.take_over(db, lead, rep=rep),
                "You have the conversation: the bot is silent and the lead's messages are forwarded.")


@bp.post("/leads/<row_id:lead_id>/hand-back")
def hand_back(lead_id: int) -> Response:
    """Give the conversation back to the bot."""
    return _act(lead_id, lambda db, rt, lead: rep_actions.hand_back(db, lead, by=_actor()),
                "The bot has the conversation again.")


@bp.post("/leads/<row_id:lead_id>/reply")
def reply(lead_id: int) -> Response:
    """The rep's typed reply: it takes the conversation over (the bot stops) and goes out through Twilio."""
    text, key, actor = request.form.get("body", ""), request.form.get("nonce", ""), _actor()

    def send(db: Session, rt: Runtime, lead: Lead) -> AfterCommit:
        if not key:
            raise ActionRefused("the form is missing its nonce; reload the page")
        queued = rep_actions.rep_reply(db, rt, lead, text=text, by=actor, key=key)
        if lead.status not in CLOSED_STATUSES:
            rep_actions.take_over(db, lead, rep=actor.name if actor.name != "owner" else (lead.owner or "owner"))
        return queued

    return _act(lead_id, send, "Reply queued for sending.")


@bp.post("/leads/<row_id:lead_id>/drafts/<row_id:message_id>/approve")
def approve_draft(lead_id: int, message_id: int) -> Response:
    """Send a model's draft as it is, or as the rep edited it in the form."""
    edited = request.form.get("body")
    actor = _actor()

    def approve(db: Session, rt: Runtime, lead: Lead) -> AfterCommit:
        draft = db.get(Message, message_id)
        if draft is None or draft.lead_id != lead.id or draft.business_id != lead.business_id:
            raise ActionRefused("that draft does not exist")
        text = edited if edited is not None and edited.strip() != (draft.body or "").strip() else None
        return rep_actions.approve_draft(db, rt, draft, by=actor, text=text)

    return _act(lead_id, approve, "Draft approved; it is on its way.")


@bp.post("/leads/<row_id:lead_id>/note")
def note(lead_id: int) -> Response:
    """Add the form's ``text`` to the lead's timeline as a note."""
    text = request.form.get("text", "")
    return _act(lead_id, lambda db, rt, lead: rep_actions.add_note(db, lead, text=text, by=_actor()), "Note added.")
