"""API tokens: issued for one business (or the agency), kept only as a SHA-256, found by it in one indexed read."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.tenancy import ApiToken

SCOPES = ("leads", "stats")
"""``leads``: ``POST /leads`` and ``POST /privacy/erase``; ``stats``: ``GET /stats``."""


@dataclass(frozen=True)
class Holder:
    """Who a token belongs to: a business (``business_id``), or the agency (``business_id`` None: every business)."""

    business_id: int | None


def token_sha256(token: str) -> str:
    """SHA-256 (hex) of a bearer token: what is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, *, business_id: int | None, scope: str, label: str | None = None) -> str:
    """A new bearer token of ``scope`` for business ``business_id`` (None: the agency); returns it, the only time
    it is seen: only its hash is kept.

    Raises:
        ValueError: ``scope`` is not one of :data:`SCOPES`.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown token scope {scope!r}; one of {', '.join(SCOPES)}")
    token = "ll_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=token_sha256(token), business_id=business_id, scope=scope, label=label))
    return token


def holder(session: Session, *, token: str, scope: str) -> Holder | None:
    """Who holds ``token`` for ``scope``; None when it is no such token. The lookup is by the token's hash (a
    primary key), so its time does not depend on how much of a stored token the given one shares."""
    row = session.execute(select(ApiToken.business_id).where(ApiToken.token_hash == token_sha256(token),
                                                             ApiToken.scope == scope)).first()
    return None if row is None else Holder(business_id=row[0])

