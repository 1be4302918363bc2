"""Texts to the business's reps: a lead's owner, or every rep while it has none (rep alerts, forwarded
messages, draft approvals). AfterCommit as outbox rows, sent like every other row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.delivery.senders import business_route
from runtime import Runtime
from store import outbox
from store.addresses import address_for
from store.models import Lead


def notify_owner(session: Session, rt: Runtime, lead: Lead, text: str, *, key: str) -> list[int]:
    """Text the lead's owner (every rep when it has none); returns the outbox ids queued."""
    owner = rt.playbook.rep_named(lead.owner)
    ids = []
    for rep in [owner] if owner else rt.playbook.reps:
        route = business_route(rt.business, channel=rep.channel)
        row = outbox.add_outbound(session, business_id=lead.business_id, lead_id=lead.id, kind="rep_alert",
                                  to_address=address_for(rep.phone, rep.channel),
                                  body=text, dedupe_key=f"rep:{lead.id}:{rep.phone}:{key}"[:128],
                                  from_address=route.from_address, messaging_service_sid=route.messaging_service_sid)
        if row is not None:
            ids.append(row)
    return ids
