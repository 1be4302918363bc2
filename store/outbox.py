"""The outbox: every send is a row before it is a Twilio call.

Life of an outbound row (``Message.outbox_state``)::

    pending ──claim()──► claimed ──mark_sent()──► sent        (Twilio has it; ``status`` follows callbacks)
       │                    ├──────mark_failed()──► failed      (Twilio refused it, or a crash left it unknown)
       │                    └──────release()──────► pending     (Twilio not reached; try again)
       └──cancel_pending()──────────────────────► cancelled   (opt-out, or nothing left to say)

``claim`` is one conditional UPDATE, so of any number of workers racing for a row exactly
one wins; a row is handed to Twilio at most once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.db import affected_rows
from store.models import Message, utcnow

AWAITING_APPROVAL = "awaiting_approval"
"""A model-drafted touch for a hot lead, held until a rep approves it (it is never claimed before)."""


def new_outbound(
    *, business_id: int, lead_id: int | None, kind: str, to_address: str, body: str | None,
    dedupe_key: str, from_address: str | None = None, messaging_service_sid: str | None = None,
    content_sid: str | None = None, content_variables: dict[str, Any] | None = None,
    send_after: datetime | None = None, state: str = "pending",
) -> Message:
    """An outbox row, not yet added to a session: :func:`add_outbound` adds one; a batch adds many at once,
    after :func:`queued_keys` says which of its keys were queued before."""
    return Message(business_id=business_id, lead_id=lead_id, direction="outbound", kind=kind, to_address=to_address, body=body,
                   from_address=from_address, messaging_service_sid=messaging_service_sid, content_sid=content_sid,
                   content_variables=content_variables, send_after=send_after, dedupe_key=dedupe_key,
                   outbox_state=state, attempts=0, created_at=utcnow())


def queued_keys(session: Session, dedupe_keys: list[str]) -> set[str]:
    """Those of ``dedupe_keys`` already queued (one SELECT)."""
    if not dedupe_keys:
        return set()
    return set(session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(dedupe_keys))))


def add_outbound(
    session: Session, *, business_id: int, lead_id: int | None, kind: str, to_address: str, body: str | None,
    dedupe_key: str, from_address: str | None = None, messaging_service_sid: str | None = None,
    content_sid: str | None = None, content_variables: dict[str, Any] | None = None,
    send_after: datetime | None = None, state: str = "pending",
) -> int | None:
    """Queue a message of business ``business_id`` for sending (not before ``send_after``, UTC); returns its id,
    or None when ``dedupe_key`` was already queued.

    The unique ``dedupe_key`` makes re-running the code that queued it harmless: one
    ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`` (SQLite and Postgres), a single
    round trip whether or not the row exists.
    """
    row = new_outbound(business_id=business_id, lead_id=lead_id, kind=kind, to_address=to_address, body=body,
                       dedupe_key=dedupe_key,
                       from_address=from_address, messaging_service_sid=messaging_service_sid,
                       content_sid=content_sid, content_variables=content_variables, send_after=send_after,
                       state=state)
    values = {a.key: value for a in inspect(Message).column_attrs if (value := getattr(row, a.key)) is not None}
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return session.scalar(dialect_insert(Message).values(values)
                          .on_conflict_do_nothing(index_elements=[Message.dedupe_key]).returning(Message.id))


def cancel(session: Session, *, message_id: int, reason: str) -> None:
    """Cancel a claimed or pending row (e.g. the recipient opted out since it was queued)."""
    session.execute(
        update(Message).where(Message.id == message_id, Message.outbox_state.in_(("pending", "claimed")))
        .values(outbox_state="cancelled", error_message=reason)
    )


def cancel_pending(session: Session, *, business_id: int, to_addresses: list[str], reason: str) -> int:
    """Cancel every pending row of business ``business_id`` to these addresses; returns how many."""
    return affected_rows(
        session,
        update(Message).where(Message.business_id == business_id, Message.to_address.in_(to_addresses),
                              Message.outbox_state.in_(("pending", AWAITING_APPROVAL)))
        .values(outbox_state="cancelled", error_message=reason)
    )


def pending_ids(session: Session, *, older_than: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of pending rows (oldest first), for the reconciler to re-enqueue."""
    query = select(Message.id).where(Message.outbox_state == "pending")
    if older_than is not None:
        query = query.where(func.coalesce(Message.send_after, Message.created_at) < older_than)
    return list(session.scalars(query.order_by(Message.id).limit(limit)))


def send_after(session: Session, *, message_ids: list[int]) -> dict[int, datetime | None]:
    """Each row's ``send_after`` (UTC, or None when it may go now), by outbox id; ids not found are left out."""
    if not message_ids:
        return {}
    rows = session.execute(select(Message.id, Message.send_after).where(Message.id.in_(message_ids))).all()
    return {row.id: row.send_after for row in rows}


def is_held(session: Session, *, message_id: int, now: datetime) -> datetime | None:
    """The row's ``send_after`` when it is still pending and held past ``now`` (a rep alert waiting for the call
    window, a send waiting for its slot in the sender's rate); else None."""
    row = session.execute(select(Message.outbox_state, Message.send_after).where(Message.id == message_id)).first()
    if row is None:
        return None
    state, held_until = row
    return held_until if state == "pending" and held_until is not None and held_until > now else None


def pending_among(session: Session, *, message_ids: list[int]) -> list[int]:
    """Those of ``message_ids`` still pending (queued, not yet claimed for a send)."""
    if not message_ids:
        return []
    return list(session.scalars(select(Message.id).where(Message.id.in_(message_ids), Message.outbox_state == "pending")))
