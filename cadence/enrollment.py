"""Enrolling a lead in the follow-up cadence and stopping it (putting due touches in Redis: :mod:`cadence.dispatch`).

Enrolment: a lead silent mid-qualification for ``stall_after`` (found by the reconciler),
one that ends in nurture, and one qualified but not booked. Steps count from the lead's
capture. Stop conditions (the seeds' contract) are recorded on the lead: booked, replied,
not_serviceable, duplicate, opted_out, stale.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from cadence.clock import scaled
from runtime import Runtime
from store import touches
from store.leads import add_activity, last_captured_at, stalled_leads
from store.models import Lead, utcnow

log = logging.getLogger(__name__)

STOP_REASONS = ("booked", "replied", "not_serviceable", "duplicate", "opted_out", "stale", "closed")
"""The seeds' stop conditions, plus ``closed``: a rep marked the lead won or lost, or took the conversation over."""
REACTIVATION_AFTER_DAYS = 30
"""A step this many days or more after capture (or named ``reactivation…``) goes only to dormant leads."""


def is_reactivation(step_id: str, after_s: float) -> bool:
    """Whether a step is the dormant-lead reactivation (the seeds' "Day 60+")."""
    return step_id.startswith("reactivation") or after_s >= REACTIVATION_AFTER_DAYS * 86400


def captured_at(session: Session, lead: Lead) -> datetime:
    """When the lead was last captured (its newest non-duplicate capture event, else its creation)."""
    return last_captured_at(session, lead_id=lead.id) or lead.created_at


def enroll(session: Session, rt: Runtime, lead: Lead, *, why: str, now: datetime | None = None) -> list[int]:
    """Schedule the playbook's steps for ``lead`` (those still in the future); returns the owed touch ids."""
    now = now or utcnow()
    start = captured_at(session, lead)
    per_day = rt.settings.cadence_seconds_per_day
    steps = [(s.id, start + scaled(s.after_s, per_day)) for s in rt.playbook.cadence.steps]
    owed = touches.schedule(session, lead_id=lead.id, steps=steps, now=now)
    lead.enrolled_at, lead.stop_reason = now, None
    add_activity(session, lead_id=lead.id, kind="enrolled", why=why, touches=len(owed))
    return owed


def stop(session: Session, lead: Lead, *, reason: str) -> int:
    """Cancel every owed touch and record why; returns how many were cancelled.

    Raises:
        ValueError: ``reason`` is not one of ``STOP_REASONS``.
    """
    if reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {reason!r}")
    cancelled = touches.cancel_owed(session, lead_id=lead.id)
    if cancelled or (lead.enrolled_at is not None and lead.stop_reason is None):
        lead.stop_reason = reason
        add_activity(session, lead_id=lead.id, kind="cadence_stopped", reason=reason, cancelled=cancelled)
    return cancelled


def enroll_stalled(rt: Runtime, *, lead_ids: list[int] | None = None, limit: int = 1000) -> list[int]:
    """Enroll leads silent mid-qualification for their playbook's ``stall_after`` (scaled); returns their owed
    touch ids. Works across businesses: the silent leads are read oldest-heard first in one query (at most
    ``limit``), and each is held to its own playbook version's ``stall_after``.

    Mid-qualification: new or contacted, not yet scored, no rep has the conversation, cadence
    not stopped for good. A
    lead that replied after an earlier enrolment and went quiet again is enrolled again.
    """
    now = utcnow()
    with rt.sessions.begin() as session:
        silent = stalled_leads(session, heard_before=now, lead_ids=lead_ids, limit=limit)
        owed = []
        for lead in silent:
            lrt = rt.for_lead(lead.business_id, lead.playbook_version_id)
            cutoff = now - scaled(lrt.playbook.cadence.stall_after_s, rt.settings.cadence_seconds_per_day)
            if (lead.last_inbound_at or lead.created_at) <= cutoff:
                owed += enroll(session, lrt, lead, why="stalled", now=now)
    return owed
