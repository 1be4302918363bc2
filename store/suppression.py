"""Opt-outs: numbers that texted STOP get nothing more, on SMS or WhatsApp, until START.

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


def is_suppressed(session: Session, *, address: str) -> bool:
    """Whether the number behind ``address`` has opted out."""
    return session.scalar(select(Suppression.phone_hash).where(Suppression.phone_hash == phone_hash(address))) is not None


def suppress(session: Session, *, address: str, keyword: str | None) -> None:
    """Record an opt-out for the number behind ``address`` (idempotent)."""
    key = phone_hash(address)
    if session.get(Suppression, key) is None:
        session.add(Suppression(phone_hash=key, keyword=keyword))
        session.flush()


def unsuppress(session: Session, *, address: str) -> bool:
    """Lift an opt-out (START/UNSTOP/YES); True when there was one."""
    return bool(affected_rows(session, delete(Suppression).where(Suppression.phone_hash == phone_hash(address))))


def suppressed_hashes(session: Session, *, hashes: set[str]) -> set[str]:
    """Those of the phone hashes ``hashes`` (:func:`phone_hash`) that are on the opt-out list."""
    if not hashes:
        return set()
    return set(session.scalars(select(Suppression.phone_hash).where(Suppression.phone_hash.in_(hashes))))
