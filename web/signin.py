"""Who is signed in to the dashboard, kept in Redis so every web process agrees: server-side sessions and the
login throttle.

A session is a random id (256 bits) that the dashboard puts in Flask's signed cookie; Redis keeps only the
id's SHA-256 (``leadline:dashboard-session:<sha256>``) for :data:`SESSION_LIFETIME`, with who signed in (their
user id and the stamp of their password hash, :class:`Holder`), so closing it ends every copy of the cookie at
once, and nobody holding the cookie can change whose session it is.

The throttle counts login attempts per client address in 15-minute windows (``leadline:login-failures:<address>``)
atomically, so parallel attempts cannot slip past the limit.
Every function raises ``redis.exceptions.RedisError`` when Redis is unreachable: the caller refuses (503)
rather than guesses.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis import Redis

from store.redis import text

log = logging.getLogger(__name__)

LOGIN_LIMIT = 10
"""Login attempts (wrong passwords, in effect) checked per client address per window."""
LOGIN_WINDOW_S = 900
"""The throttle's window, seconds: an address past :data:`LOGIN_LIMIT` waits out the rest of it."""
SESSION_LIFETIME = timedelta(hours=12)
"""How long a session lives after its login."""
SESSION_KEY_PREFIX = "leadline:dashboard-session:"
ATTEMPTS_KEY_PREFIX = "leadline:login-failures:"
LOCKOUTS_KEY = "leadline:dashboard-lockouts"

_GIVE_BACK = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"
"""Return a login attempt's slot, unless its window has already expired (a ``DECR`` then would create a key
with no expiry)."""


def _session_key(session_id: str) -> str:
    # Only the id's hash is stored: a copy of Redis (a backup, a replica) holds no usable session.
    return SESSION_KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Holder:
    """Whose a session is: user ``user_id``, signed in with the password whose hash has stamp ``stamp``
    (:func:`web.passwords.stamp`)."""

    user_id: int
    stamp: str


def open_session(redis: Redis, *, user_id: int, stamp: str) -> str:
    """Start a dashboard session for user ``user_id`` (password stamp ``stamp``): a new random id (43 URL-safe
    characters), live in Redis for :data:`SESSION_LIFETIME`. Returns the id, for the signed cookie.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    session_id = secrets.token_urlsafe(32)
    redis.set(_session_key(session_id), f"{user_id}:{stamp}", ex=int(SESSION_LIFETIME.total_seconds()))
    return session_id


def session_holder(redis: Redis, session_id: Any) -> Holder | None:
    """Whose session ``session_id`` (from the cookie) is, while it is neither closed nor expired; None for anything
    else (not a string, no such session, or one from before sessions had holders).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable (the caller refuses rather than guesses).
    """
    if not isinstance(session_id, str):
        return None
    value = redis.get(_session_key(session_id))
    user_id, _, stamp = text(value or b"", errors="replace").partition(":")
    return Holder(int(user_id), stamp) if user_id.isascii() and user_id.isdigit() and stamp else None


def close_session(redis: Redis, session_id: Any) -> None:
    """End a session everywhere: its id no longer opens anything, in any web process.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    if isinstance(session_id, str):
        redis.delete(_session_key(session_id))


def take_login_attempt(redis: Redis, address: str) -> tuple[int, int]:
    """Count one login attempt from ``address`` in its 15-minute window, atomically (one MULTI/EXEC: the
    counter is created with the window's expiry if absent, then incremented, so parallel attempts each get
    their own number). Returns ``(attempts in the window including this one, seconds left in the window)``.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    key = ATTEMPTS_KEY_PREFIX + address
    with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
    return int(count), max(int(ttl), 1)


def give_back_login_attempt(redis: Redis, address: str) -> None:
    """A right password: its attempt does not count against the address.

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    redis.eval(_GIVE_BACK, 1, ATTEMPTS_KEY_PREFIX + address)


def lockout_count(redis: Redis) -> int:
    """Dashboard lockouts since Redis was last emptied, summed over every web process: one per client address
    per 15-minute window in which it was refused for too many login attempts (a Prometheus counter).

    Raises:
        redis.exceptions.RedisError: Redis is unreachable.
    """
    return int(redis.get(LOCKOUTS_KEY) or 0)


def lock_out(redis: Redis, address: str) -> None:
    """Record that ``address`` was just locked out: a WARNING naming the address only, and one more lockout
    counted (:func:`lockout_count`)."""
    log.warning("dashboard login locked out for %s: more than %d attempts in %d minutes",
                address, LOGIN_LIMIT, LOGIN_WINDOW_S // 60)
    redis.incr(LOCKOUTS_KEY)
