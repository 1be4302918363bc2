"""The LangGraph checkpointer, kept in the project's own database."""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool
from sqlalchemy import make_url

from store.db import PING_AFTER_IDLE_S, POSTGRES_CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_S


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy Postgres URL as a plain libpq one (no ``+driver``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def open_checkpointer(database_url: str, *, pool_size: int = 4) -> Iterator[SqliteSaver | PostgresSaver]:
    """A checkpointer on the database ``database_url`` names; closed on exit.

    SQLite: a ``SqliteSaver`` on the same file (WAL, busy timeout). Postgres: a
    ``PostgresSaver`` on a small psycopg pool (autocommit, as the saver requires).
    Tables must exist: :func:`store.migrate.upgrade` creates them.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database or ":memory:", check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_S)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # as store.db's connections: a commit costs no fsync under WAL
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()
        return
    # ``check``: a connection idle over PING_AFTER_IDLE_S is tried (an empty query) as it leaves the pool, so
    # one the server or the network dropped meanwhile is replaced instead of failing the turn that drew it
    # (psycopg_pool does not test idle connections otherwise). ``connect_timeout``: a down database fails fast.
    idle_since: weakref.WeakKeyDictionary[Connection[DictRow], float] = weakref.WeakKeyDictionary()

    def returned(conn: Connection[DictRow]) -> None:
        idle_since[conn] = time.monotonic()

    def check(conn: Connection[DictRow]) -> None:
        since = idle_since.get(conn)  # none on a connection just opened
        if since is not None and time.monotonic() - since >= PING_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)

    pool = ConnectionPool(libpq_url(database_url), min_size=1, max_size=pool_size, open=True,
                          check=check, reset=returned,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                                  "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S})
    try:
        yield PostgresSaver(pool)
    finally:
        pool.close()


PRUNE_POSTGRES_SQL = """
WITH head AS (
    SELECT checkpoint_id, checkpoint -> 'channel_versions' AS versions FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC LIMIT 1
), old_checkpoints AS (
    DELETE FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id <> (SELECT checkpoint_id FROM head)
), old_writes AS (
    DELETE FROM checkpoint_writes
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id <> (SELECT checkpoint_id FROM head)
), orphaned AS (
    UPDATE checkpoints SET parent_checkpoint_id = NULL
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = '' AND checkpoint_id = (SELECT checkpoint_id FROM head)
    AND parent_checkpoint_id IS NOT NULL
)
DELETE FROM checkpoint_blobs b
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = '' AND EXISTS (SELECT 1 FROM head)
AND NOT EXISTS (SELECT 1 FROM head WHERE head.versions ->> b.channel = b.version)
"""
"""Keep a Postgres thread's latest checkpoint (``thread_id``), its writes and the blobs it references; delete
the rest. A thread with no checkpoint is left alone."""


CHANNELS = ("sms", "whatsapp")
"""The channels a number can hold a conversation on, each with a checkpointer thread of its own."""


def thread_id(business_id: int, channel: str, phone: str) -> str:
    """A conversation's checkpointer thread: one per (business, channel, E.164 phone), e.g. ``b1:sms:+13035550100``:
    the same number writing to two businesses holds two conversations."""
    return f"b{business_id}:{channel}:{phone}"


def prune_thread(saver: BaseCheckpointSaver[Any], thread_id: str) -> None:
    """Keep only the thread's latest checkpoint: all a conversation needs to resume.

    Turns run with ``durability="exit"``, one checkpoint per turn, and Leadline never
    replays or forks a conversation, so older checkpoints are dead weight that would grow
    the database with every message. The older checkpoints, their writes and (Postgres) the
    channel values only they referenced are deleted.

    Postgres: one statement (:data:`PRUNE_POSTGRES_SQL`), one round trip. The saver's general
    ``prune(keep_latest)`` also handles subgraph namespaces, pre-v4 checkpoints and delta
    channels, none of which Leadline's graph has, and costs ~17 round trips a turn (one
    ``DELETE`` per channel). The conversation's turns never run at once (RQ's per-conversation
    rate limit), so nothing writes the thread while it is pruned.
    """
    if isinstance(saver, PostgresSaver):
        pool = saver.conn  # a pool (open_checkpointer's); the saver's type also admits a single connection
        if not isinstance(pool, ConnectionPool):
            raise TypeError(f"prune_thread needs a PostgresSaver on a connection pool, not {type(pool).__name__}")
        with pool.connection() as conn:  # autocommit: one statement, atomic
            conn.execute(PRUNE_POSTGRES_SQL, {"thread_id": thread_id})
        return
    if isinstance(saver, SqliteSaver):
        with saver.lock, saver.conn:
            latest = saver.conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
                "ORDER BY checkpoint_id DESC LIMIT 1", (thread_id,)).fetchone()
            if latest is None:
                return
            saver.conn.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_id != ?", (thread_id, latest[0]))
            saver.conn.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id != ?",
                               (thread_id, latest[0]))
