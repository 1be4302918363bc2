"""The bot's direct answer to one inbound message (HELP, resubscribed, a hand-off or wrong-number reply),
queued once per message."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.delivery.senders import reply_route
from runtime import Runtime
from store import outbox
from store.models import Lead, Message

log = logging.getLogger(__name__)


def reply_to(session: Session, rt: Runtime, lead: Lead, message: Message, text: str) -> list[int]:
    route = reply_route(rt.business, business_address=lead.business_address or "")
    row = outbox.add_outbound(session, business_id=lead.business_id, lead_id=lead.id, kind="help", to_address=lead.address,
                              body=text,
                              dedupe_key=f"reply:{message.id}:0", from_address=route.from_address,
                              messaging_service_sid=route.messaging_service_sid)
    return [row] if row else []
