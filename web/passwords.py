"""Dashboard passwords, hashed with argon2id through argon2-cffi (``argon2.PasswordHasher``).

A stored hash carries its own parameters (``$argon2id$v=19$m=65536,t=3,p=4$…``): when the hasher's change (a
newer argon2-cffi, or :data:`HASHER` made stronger), a hash made with the old ones still verifies, and a login
that verifies it gets a new one (:attr:`Checked.rehashed`) for the caller to store. Checking a login for a
username nobody has verifies against a dummy hash, so it takes as long as a wrong password for a real user:
the answer's time does not tell which usernames exist.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
"""argon2-cffi's defaults: argon2id with RFC 9106's low-memory profile (t=3, m=64 MiB, p=4); ~0.1 s a hash."""
MIN_LENGTH = 8
"""Shortest password a user may be given, characters (NIST SP 800-63B)."""
MAX_LENGTH = 1024
"""Longest password checked or set, characters: longer ones are refused before any hashing."""


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a password against a stored hash.

    Attributes:
        ok: the password matches.
        rehashed: when it matched a hash made with other parameters than :data:`HASHER`'s, a new hash of it to
            store in place of the old one; else None.
    """

    ok: bool
    rehashed: str | None = None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted at random, with its parameters), to store. A new user's password
    must also be at least :data:`MIN_LENGTH` long (:func:`web.accounts.save_user` holds them to it).

    Raises:
        ValueError: ``password`` is empty or longer than :data:`MAX_LENGTH`.
    """
    if not 0 < len(password) <= MAX_LENGTH:
        raise ValueError(f"a password must have 1 to {MAX_LENGTH} characters")
    return HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


def check(stored_hash: str | None, password: str) -> Checked:
    """Whether ``password`` matches ``stored_hash``; a ``stored_hash`` of None (no such user) is checked against a
    dummy hash, taking the same time, and never matches. An unreadable stored hash or an over-long password
    does not match either. Never raises."""
    if len(password) > MAX_LENGTH:
        return Checked(ok=False)
    try:
        HASHER.verify(stored_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
        return Checked(ok=False)
    if stored_hash is None:  # pragma: no cover - a random dummy password is never given
        return Checked(ok=False)
    return Checked(ok=True, rehashed=HASHER.hash(password) if HASHER.check_needs_rehash(stored_hash) else None)


def stamp(password_hash: str) -> str:
    """A short fingerprint of a stored hash (16 hex digits of its SHA-256), kept with a session: when the password
    changes, sessions opened with the old one no longer match and end."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]
