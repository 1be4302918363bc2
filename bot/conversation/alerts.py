"""The qualified-lead alert to reps: the lead's owner (every rep when it has none); a HOT lead's call alert waits
for the call window in the lead's local time."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.delivery.senders import business_route
from cadence.clock import next_call_opening
from runtime import Runtime
from store import outbox
from store.addresses import address_for
from store.models import Lead, utcnow

log = logging.getLogger(__name__)


def rep_alerts(session: Session, rt: Runtime, lead: Lead, text: str, *, hot: bool) -> list[int | None]:
    """Alert the lead's owner (every rep when it has none); a HOT lead's call alert waits for the call window
    (in the lead's local time)."""
    send_after = None
    if hot:
        now = utcnow()
        opening = next_call_opening(now, lead.timezone or rt.playbook.business.timezone, rt.playbook.cadence.call_window)
        lead.call_alert_at = opening
        send_after = opening if opening > now else None
    ids = []
    owner = rt.playbook.rep_named(lead.owner)
    for rep in [owner] if owner else rt.playbook.reps:
        route = business_route(rt.business, channel=rep.channel)
        ids.append(outbox.add_outbound(
            session, business_id=lead.business_id, lead_id=lead.id, kind="rep_alert", to_address=address_for(rep.phone,
                                                                                                             rep.channel),
                                                                                                                 body=text,
            dedupe_key=f"rep_alert:{lead.id}:{rep.phone}:qualified", from_address=route.from_address,
            messaging_service_sid=route.messaging_service_sid, send_after=send_after))
    return ids
