"""Who owns a lead's next action: the seeds' route state (owner, dispatcher, assigned_at,
first_response_due_at, current_queue).

A new lead goes round-robin among the playbook's reps, by lead id, so every web and
worker process agrees without shared state. When its answers match one of the
playbook's ``routing`` rules it moves to that rule's rep, unless a rep has claimed it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from graph.playbook import Playbook, RoutingRule
from graph.texts import display
from store.leads import assign, who_acts_next
from store.models import Lead


def route_new_lead(session: Session, playbook: Playbook, lead: Lead, *, captured_at: datetime) -> None:
    """Give a just-captured (or reopened) lead an owner, when it has none, and its first-response deadline.

    ``captured_at`` is UTC; the deadline is it plus ``goals.first_response_minutes``.
    """
    if lead.owner is None:
        rep = playbook.reps[(lead.id - 1) % len(playbook.reps)]
        assign(session, lead=lead, owner=rep.name, dispatcher="round_robin")
    lead.first_response_due_at = captured_at + timedelta(minutes=playbook.goals.first_response_minutes)
    lead.next_action_by = who_acts_next(lead)


def route_on_answers(session: Session, playbook: Playbook, lead: Lead) -> None:
    """Apply the first ``routing`` rule the lead's answers match; a claimed lead keeps its rep."""
    if lead.dispatcher and lead.dispatcher.startswith("rep:"):
        return
    for rule in playbook.routing:
        if matches(rule, (lead.answers or {}).get(rule.question)):
            assign(session, lead=lead, owner=rule.rep, dispatcher=f"rule:{rule.question}")
            return


def matches(rule: RoutingRule, answer: Any) -> bool:
    """Whether an answer is one of the rule's values (case-insensitive; a postal code by prefix)."""
    if answer is None:
        return False
    text = display(answer).lower()
    return any(text == v.lower() or (text[:1].isdigit() and text.startswith(v.lower())) for v in rule.values)
