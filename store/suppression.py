"""Opt-outs: numbers that texted STOP get nothing more from that business, on SMS or WhatsApp, until START.

Source: CTIA Messaging Principles and Twilio's Advanced Opt-Out (STOP, START, HELP keywords).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.addresses import phone_of
from store.db import affected_rows
from store.models import Suppression


def phone_hash(address: str) -> str:
    """SHA-256 hex of the E.164 number behind a Twilio address (``whatsapp:`` prefix ignored)."""
    return hashlib.sha256(phone_of(address).encode()).hexdigest()


def is_suppressed(session: Session, *, business_id: int, address: str) -> bool:
    """Whether the number behind ``address`` has opted out of business ``business_id``."""
    return session.get(Suppression, (business_id, phone_hash(address))) is not None


def suppress(session: Session, *, business_id: int, address: str, keyword: str | None) -> None:
    """Record an opt-out of business ``business_id`` for the number behind ``address`` (idempotent)."""
    key = (business_id, phone_hash(address))
    if session.get(Suppression, key) is None:
        session.add(Suppression(business_id=business_id, phone_hash=key[1], keyword=keyword))
        session.flush()


def unsuppress(session: Session, *, business_id: int, address: str) -> bool:
    """Lift an opt-out of business ``business_id`` (START/UNSTOP/YES); True when there was one."""
    return bool(affected_rows(session, delete(Suppression).where(Suppression.business_id == business_id,
                                                                 Suppression.phone_hash == phone_hash(address))))


def suppressed_pairs(session: Session, *, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of the ``(business id, phone hash)`` pairs (:func:`phone_hash`) on the opt-out list (one SELECT,
    whatever the number of businesses)."""
    if not pairs:
        return set()
    hashes = {h for _, h in pairs}
    rows = session.execute(select(Suppression.business_id, Suppression.phone_hash)
                           .where(Suppression.phone_hash.in_(hashes)))
    return {(business_id, digest) for business_id, digest in rows if (business_id, digest) in pairs}
