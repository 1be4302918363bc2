"""The inbox: inbound messages as the webhook stores them, before any conversation work.

The webhook's whole database cost is :func:`store_inbound`, one ``INSERT … ON CONFLICT
(twilio_sid) DO NOTHING RETURNING id``. Leads, capture events and the timeline are the
turn job's business (:func:`store.leads.attach_to_lead`), keyed by the sender's address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Base, Message, utcnow


def insert_ignore(session: Session, model: type[Base], *conflict_columns: str) -> postgresql.Insert | sqlite.Insert:
    """``INSERT … ON CONFLICT (columns) DO NOTHING`` for SQLite or Postgres."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns))
    raise KeyError(dialect)


def store_inbound(session: Session, *, business_id: int, from_address: str, to_address: str, message_sid: str, body: str,
                  profile_name: str | None, media: dict[str, Any] | None, received_at: datetime,
                  tapped: str | None = None) -> int | None:
    """Store one inbound message; returns its id, or None when the MessageSid is already stored.

    ``business_id`` is the business that owns ``to_address`` (the webhook routed it); ``from_address`` is the
    prospect's canonical Twilio address (``+1…`` or ``whatsapp:+1…``); together they name the conversation.
    ``tapped`` is the id of the WhatsApp button or list item the message was a tap on (at most 200 characters).
    Twilio retries webhooks it thinks failed: the unique MessageSid turns a retry into a no-op, atomically,
    whatever the number of web processes.
    """
    return session.scalar(
        insert_ignore(session, Message, "twilio_sid").values(
            business_id=business_id, direction="inbound", kind="prospect", to_address=to_address, from_address=from_address,
                body=body,
            sender_name=profile_name, media=media, tapped=tapped, twilio_sid=message_sid, status="received",
            created_at=received_at, attempts=0,
        ).returning(Message.id)
    )


def next_pending(session: Session, *, business_id: int, from_address: str) -> Message | None:
    """The sender's oldest inbound message to the business whose turn has not been committed (arrival order)."""
    return session.scalar(
        select(Message)
        .where(Message.business_id == business_id, Message.from_address == from_address, Message.direction == "inbound",
               Message.processed_at.is_(None))
        .order_by(Message.id)
        .limit(1)
    )


def pending_senders(session: Session, *, older_than: datetime) -> list[tuple[str, int]]:
    """Conversations (a sender to a business, of any business) with inbound messages stored before ``older_than``
    and still unprocessed, each with the id of its oldest such message: ``[(address, message id)]``."""
    rows = session.execute(
        select(Message.from_address, func.min(Message.id)).where(
            Message.direction == "inbound", Message.processed_at.is_(None), Message.created_at < older_than)
        .group_by(Message.business_id, Message.from_address))
    # An inbound row always has its sender (store_inbound); only outbound rows may lack a from_address.
    return [(address, first) for address, first in rows if address is not None]


DEAD_LETTERED = "dead_lettered"
"""``messages.status`` of an inbound message whose turn was set aside after failing (see :func:`set_aside`)."""


def pending_after(session: Session, *, business_id: int, from_address: str, after_id: int) -> list[Message]:
    """The sender's unprocessed inbound messages to the business that arrived after message ``after_id``, oldest
    first."""
    return list(session.scalars(
        select(Message)
        .where(Message.business_id == business_id, Message.from_address == from_address, Message.direction == "inbound",
               Message.processed_at.is_(None),
               Message.id > after_id)
        .order_by(Message.id)))


def count_failure(session: Session, *, message_id: int) -> int:
    """Count one more failed turn of inbound message ``message_id``; returns the failures so far (0: not found).

    Runs in a transaction of its own, after the failed turn's rolled back, so the count survives it.
    """
    return session.scalar(
        update(Message).where(Message.id == message_id).values(attempts=Message.attempts + 1)
        .returning(Message.attempts)) or 0


def set_aside(session: Session, *, message_id: int, error: str) -> Message | None:
    """Dead-letter an inbound message whose turn keeps failing: processed, status ``dead_lettered``, ``error`` kept
    (at most 500 characters), so the sender's later messages flow. Returns the message, or None when it was
    processed meanwhile."""
    message = session.get(Message, message_id)
    if message is None or message.processed_at is not None:
        return None
    message.processed_at, message.status, message.error_message = utcnow(), DEAD_LETTERED, error[:500]
    return message


def dead_letter_count(session: Session, *, business_id: int | None, since: datetime | None = None,
                      until: datetime | None = None) -> int:
    """Inbound messages of business ``business_id`` (None: of every business) dead-lettered among those received
    in ``[since, until)`` (all when unbounded)."""
    query = select(func.count()).select_from(Message).where(Message.direction == "inbound",
                                                            Message.status == DEAD_LETTERED)
    if business_id is not None:
        query = query.where(Message.business_id == business_id)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    return session.scalar(query) or 0


def sender_of(session: Session, *, message_id: int) -> tuple[int, str] | None:
    """``(business id, Twilio address)`` of inbound message ``message_id``: its conversation; None when it is gone."""
    row = session.execute(select(Message.business_id, Message.from_address).where(Message.id == message_id)).first()
    return None if row is None or row[1] is None else (row[0], row[1])
