"""The inbox: inbound messages as the webhook stores them, before any conversation work.

The webhook's whole database cost is :func:`store_inbound`, one ``INSERT … ON CONFLICT
(twilio_sid) DO NOTHING RETURNING id``. Leads, capture events and the timeline are the
turn job's business (:func:`store.leads.attach_to_lead`), keyed by the sender's address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Message


def insert_ignore(session: Session, model: type, *conflict_columns: str) -> Any:
    """``INSERT … ON CONFLICT (columns) DO NOTHING`` for SQLite or Postgres."""
    dialect = session.get_bind().dialect.name
    module = {"postgresql": postgresql, "sqlite": sqlite}[dialect]
    return module.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))


def store_inbound(session: Session, *, from_address: str, to_address: str, message_sid: str, body: str,
                  profile_name: str | None, media: dict[str, Any] | None, received_at: datetime) -> int | None:
    """Store one inbound message; returns its id, or None when the MessageSid is already stored.

    ``from_address`` is the prospect's canonical Twilio address (``+1…`` or ``whatsapp:+1…``);
    it names the conversation. Twilio retries webhooks it thinks failed: the unique
    MessageSid turns a retry into a no-op, atomically, whatever the number of web processes.
    """
    return session.scalar(
        insert_ignore(session, Message, "twilio_sid").values(
            direction="inbound", kind="prospect", to_address=to_address, from_address=from_address, body=body,
            sender_name=profile_name, media=media, twilio_sid=message_sid, status="received",
            created_at=received_at, attempts=0,
        ).returning(Message.id)
    )


def next_pending(session: Session, *, from_address: str) -> Message | None:
    """The sender's oldest inbound message whose turn has not been committed (arrival order)."""
    return session.scalar(
        select(Message)
        .where(Message.from_address == from_address, Message.direction == "inbound", Message.processed_at.is_(None))
        .order_by(Message.id)
        .limit(1)
    )


def pending_senders(session: Session, *, older_than: datetime) -> list[tuple[str, int]]:
    """Senders with inbound messages stored before ``older_than`` and still unprocessed, each with the id of
    its oldest such message: ``[(address, message id)]``."""
    return [(r[0], r[1]) for r in session.execute(
        select(Message.from_address, func.min(Message.id)).where(
            Message.direction == "inbound", Message.processed_at.is_(None), Message.created_at < older_than)
        .group_by(Message.from_address))]
