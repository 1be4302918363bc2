"""Dashboard users: adding, changing, finding and removing them.

A user belongs to one business (``business_id``) or is an agency admin (``business_id`` None, every business).
Usernames are kept lower-case and compared that way (:func:`canonical_username`). Only a password's hash is
stored here; making and checking it is the web layer's (:mod:`web.passwords`, argon2id).

Functions take the session first and everything else by keyword; callers own the transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.db import affected_rows
from store.inbound import insert_ignore
from store.tenancy import User


def canonical_username(username: str) -> str:
    """``username`` as it is stored and looked up: without surrounding spaces, lower-case."""
    return username.strip().lower()


def add(session: Session, *, username: str, business_id: int | None, password_hash: str) -> int | None:
    """Add user ``username`` of business ``business_id`` (None: an agency admin); returns its id, or None when
    that username is taken (``INSERT … ON CONFLICT DO NOTHING``: safe when two processes add it at once)."""
    return session.scalar(insert_ignore(session, User, "username").values(
        username=canonical_username(username), business_id=business_id, password_hash=password_hash)
        .returning(User.id))


def update_user(session: Session, *, username: str, business_id: int | None, password_hash: str) -> bool:
    """Give existing user ``username`` a new business (None: agency admin) and password hash; False when there
    is no such user."""
    return bool(affected_rows(session, update(User).where(User.username == canonical_username(username))
                              .values(business_id=business_id, password_hash=password_hash)))


def set_password_hash(session: Session, *, user_id: int, old_hash: str, new_hash: str) -> bool:
    """Replace user ``user_id``'s password hash, only if it is still ``old_hash`` (a login that rehashes must not
    undo a password changed meanwhile); True when replaced."""
    return bool(affected_rows(session, update(User).where(User.id == user_id, User.password_hash == old_hash)
                              .values(password_hash=new_hash)))


def by_username(session: Session, *, username: str) -> User | None:
    """The user signing in as ``username`` (any case), or None."""
    return session.scalar(select(User).where(User.username == canonical_username(username)))


def by_id(session: Session, *, user_id: int) -> User | None:
    """User ``user_id``, or None (removed)."""
    return session.get(User, user_id)


def remove(session: Session, *, username: str) -> bool:
    """Remove user ``username``; True when there was one."""
    return bool(affected_rows(session, delete(User).where(User.username == canonical_username(username))))
