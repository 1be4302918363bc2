"""Dashboard users as the web app and ``leadline users`` handle them: signing in, who a session belongs to, adding
and removing users, and the one-business deployment's ``owner`` made from ``DASHBOARD_PASSWORD``.

Passwords are argon2id hashes (:mod:`web.passwords`); hashing runs outside any database transaction (it takes
~0.1 s, and on SQLite a transaction holds the write lock). A session remembers its user's id and a stamp of the
password hash it was opened with (:func:`web.passwords.stamp`): a removed user, or one whose password changed
since, is signed out at their next request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from store import businesses, users
from store.tenancy import DEFAULT_BUSINESS_ID
from web import passwords

OWNER = "owner"
"""The user ``DASHBOARD_PASSWORD`` signs in, in a one-business deployment: the default business's."""
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,199}")
"""A username once lower-cased: letters, digits and ``. _ @ + -`` (an email address fits), up to 200 characters."""


@dataclass(frozen=True)
class Account:
    """A signed-in user.

    Attributes:
        id: ``users.id``.
        username: lower-case.
        business_id: the business they belong to; None for an agency admin (every business).
        stamp: the stamp of their password hash (:func:`web.passwords.stamp`).
    """

    id: int
    username: str
    business_id: int | None
    stamp: str

    @property
    def agency(self) -> bool:
        """An agency admin: sees every business, switches between them."""
        return self.business_id is None


def username_or_error(username: str) -> str:
    """``username`` lower-cased, for a new user.

    Raises:
        ValueError: it is not 1–200 characters of letters, digits and ``. _ @ + -`` starting with a letter or digit.
    """
    canonical = users.canonical_username(username)
    if not USERNAME.fullmatch(canonical):
        raise ValueError("a username is 1-200 letters, digits and . _ @ + - (an email address fits), "
                         "starting with a letter or digit")
    return canonical


def authenticate(sessions: sessionmaker[Session], *, username: str, password: str) -> Account | None:
    """The user ``username`` (any case) when ``password`` is theirs, else None; an unknown or malformed username
    takes as long as a wrong password. A hash made with older argon2 parameters is replaced by a new one."""
    canonical = users.canonical_username(username)
    found = None
    if USERNAME.fullmatch(canonical):
        with sessions() as session:
            user = users.by_username(session, username=canonical)
            found = (user.id, user.business_id, user.password_hash) if user is not None else None
    checked = passwords.check(found[2] if found else None, password)
    if found is None or not checked.ok:
        return None
    user_id, business_id, password_hash = found
    if checked.rehashed is not None:
        with sessions.begin() as session:
            if users.set_password_hash(session, user_id=user_id, old_hash=password_hash, new_hash=checked.rehashed):
                password_hash = checked.rehashed
    return Account(id=user_id, username=canonical, business_id=business_id, stamp=passwords.stamp(password_hash))


def signed_in(session: Session, *, user_id: int, stamp: str) -> Account | None:
    """User ``user_id`` as a session opened with password stamp ``stamp`` sees them; None when the user is gone or
    their password changed since."""
    user = users.by_id(session, user_id=user_id)
    if user is None or passwords.stamp(user.password_hash) != stamp:
        return None
    return Account(id=user.id, username=user.username, business_id=user.business_id, stamp=stamp)


def active_business(sessions: sessionmaker[Session], *, slug: str) -> int | None:
    """The id of the active business with handle ``slug`` (``default`` in a one-business deployment), or None."""
    with sessions() as session:
        row = businesses.by_slug(session, slug=slug)
        return row.id if row is not None and row.active else None


def save_user(sessions: sessionmaker[Session], *, username: str, business_id: int | None, password: str,
              update: bool = False) -> bool:
    """Add user ``username`` of business ``business_id`` (None: an agency admin) with ``password``; with
    ``update``, an existing user gets this business and password instead (their sessions end). Returns True when
    the user was added, False when updated.

    Raises:
        ValueError: a malformed username (:func:`username_or_error`), a password too short or too long
            (:func:`web.passwords.hash_password`), a user who exists (without ``update``) or does not (with it).
    """
    canonical = username_or_error(username)
    if len(password) < passwords.MIN_LENGTH:
        raise ValueError(f"a password must have at least {passwords.MIN_LENGTH} characters")
    password_hash = passwords.hash_password(password)
    with sessions.begin() as session:
        if update:
            if not users.update_user(session, username=canonical, business_id=business_id, password_hash=password_hash):
                raise ValueError(f"no user {canonical!r} to update")
            return False
        if users.add(session, username=canonical, business_id=business_id, password_hash=password_hash) is None:
            raise ValueError(f"user {canonical!r} exists: add --update to change their password or business")
    return True


def remove_user(sessions: sessionmaker[Session], *, username: str) -> bool:
    """Remove user ``username`` (their sessions end at their next request); False when there was none."""
    with sessions.begin() as session:
        return users.remove(session, username=username)


def ensure_owner(sessions: sessionmaker[Session], *, password: str) -> None:
    """Make sure user :data:`OWNER` exists, belongs to the default business and signs in with ``password`` (the
    one-business deployment's ``DASHBOARD_PASSWORD``, whatever its length): added, or given this password (their
    other sessions end) when theirs differs. Safe when several processes do it at once."""
    with sessions() as session:
        user = users.by_username(session, username=OWNER)
        current = (user.business_id, user.password_hash) if user is not None else None
    if current is not None and current[0] == DEFAULT_BUSINESS_ID and passwords.check(current[1], password).ok:
        return
    password_hash = passwords.hash_password(password)
    with sessions.begin() as session:
        if not users.update_user(session, username=OWNER, business_id=DEFAULT_BUSINESS_ID, password_hash=password_hash):
            users.add(session, username=OWNER, business_id=DEFAULT_BUSINESS_ID, password_hash=password_hash)
