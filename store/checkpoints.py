"""The LangGraph checkpointer, kept in the project's own database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from sqlalchemy import make_url

from store.db import POSTGRES_CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_S


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy Postgres URL as a plain libpq one (no ``+driver``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def open_checkpointer(database_url: str, *, pool_size: int = 4) -> Iterator[BaseCheckpointSaver]:
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
    # ``check``: each connection is tried (an empty query) as it leaves the pool, so one the server or the
    # network dropped while it sat idle is replaced instead of failing the turn that drew it (psycopg_pool
    # does not test idle connections otherwise). ``connect_timeout``: a down database fails fast, as in store.db.
    pool = ConnectionPool(libpq_url(database_url), min_size=1, max_size=pool_size, open=True,
                          check=ConnectionPool.check_connection,
                          kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row,
                                  "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S})
    try:
        yield PostgresSaver(pool)
    finally:
        pool.close()


def prune_thread(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Keep only the thread's latest checkpoint: all a conversation needs to resume.

    Turns run with ``durability="exit"``, one checkpoint per turn, and Leadline never
    replays or forks a conversation, so older checkpoints are dead weight that would grow
    the database with every message. Postgres: the saver's own ``prune(keep_latest)``;
    SQLite (whose saver has none): the older checkpoints and their writes are deleted.
    """
    if isinstance(saver, PostgresSaver):
        saver.prune([thread_id], strategy="keep_latest")
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
