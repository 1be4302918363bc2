"""Engines and sessions for SQLite (default) and Postgres."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Delete, Engine, Update, create_engine, event, exc, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

SQLITE_BUSY_TIMEOUT_S = 30


POSTGRES_CONNECT_TIMEOUT_S = 3
"""Longest wait to open a Postgres connection, seconds."""


def make_engine(url: str, *, reads_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys so several processes share it.

    ``reads_only``: on SQLite, transactions are not taken as writes (no ``BEGIN IMMEDIATE``, no place in this
    process's writer queue), so a lookup made while the same thread holds a write transaction (a business's row
    read in the middle of a turn) neither waits for it nor blocks it; WAL gives each statement a consistent view.

    ``postgresql://`` URLs are taken to mean psycopg 3. Errors never carry the statement's bound values
    (SQLAlchemy's ``hide_parameters``): they hold names, numbers and messages, and errors end up in logs.
    What the database itself quotes (Postgres's ``DETAIL: Failing row contains (…)``) is blanked by
    ``bot.logs.MaskingFormatter``.
    """
    kwargs["hide_parameters"] = True
    sa_url = make_url(url)
    if sa_url.drivername == "postgresql":
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        # The SQLAlchemy pysqlite recipe: let SQLAlchemy emit BEGIN itself, and make it
        # IMMEDIATE so a read-then-write transaction can't fail with SQLITE_BUSY on upgrade.
        engine = create_engine(
            sa_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if reads_only:
            return engine
        turns = _WriteTurns()
        event.listen(engine, "begin", turns.begin)
        event.listen(engine, "commit", turns.commit)
        event.listen(engine, "rollback", turns.rollback)
        return engine
    # A down or unreachable database must fail a request fast (the webhook answers 503 so Twilio
    # uses its fallback URL), not hang on the OS's connect timeout.
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if sa_url.get_backend_name() == "postgresql" else {}
    engine = create_engine(sa_url, connect_args=connect_args, **kwargs)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0
"""A pooled Postgres connection idle longer than this is tried (one empty statement) before it is used, seconds.

A server restart, a failover or a network cut kills idle connections without the pool knowing. Trying each one
on every checkout (SQLAlchemy's ``pool_pre_ping``) costs a round trip per transaction, ~20% of a conversation
turn's; a connection in steady use is not tried. One that died within the last second fails its statement,
SQLAlchemy then invalidates the pool's older connections, and the job is retried (RQ) or the request answers 503.
"""


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for connections idle over ``PING_AFTER_IDLE_S``: the pool's
    ``checkout`` event pings, and a failed ping raises ``DisconnectionError``, on which the pool discards the
    connection and checks out a fresh one (SQLAlchemy docs, "Dealing with Disconnects")."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.get("idle_since")  # none on a connection just opened (info is per connection)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError("idle connection failed its ping") from err


class _WriteTurns:
    """SQLite takes one writer at a time (BEGIN IMMEDIATE). Threads of one process that wait for it in
    SQLite's busy handler sleep 1, 2, 5, 10… 100 ms between tries (sqlite3 ``sqliteDefaultBusyCallback``)
    and miss most hand-overs, so under many threads the lock sits idle. Here they queue on a lock of
    their own and the next one begins the moment the last commits; other processes still meet SQLite's
    busy handler. A thread that waits longer than the busy timeout begins anyway and lets SQLite decide.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def begin(self, conn: Connection) -> None:
        held = self.lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if held:
                self.lock.release()
            raise
        conn.info["write_turn"] = held

    def commit(self, conn: Connection) -> None:
        self._end(conn, "COMMIT")

    def rollback(self, conn: Connection) -> None:
        self._end(conn, "ROLLBACK")

    def _end(self, conn: Connection, statement: str) -> None:
        # Ended here rather than by the driver's commit()/rollback() that follows (a no-op once the
        # transaction is over), so the turn passes on only after SQLite has released its lock.
        held = conn.info.pop("write_turn", False)
        dbapi_connection = conn.connection.dbapi_connection  # None only once the connection is invalidated
        try:
            if dbapi_connection is not None and dbapi_connection.in_transaction:
                conn.exec_driver_sql(statement)
        finally:
            if held:
                self.lock.release()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are handed across layers as values)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def sessions_for(url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on ``url`` for one short task (an operator command); its engine is disposed when it ends."""
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


def affected_rows(session: Session, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE without RETURNING; returns how many rows it matched.

    The session answers such a statement with a ``CursorResult``, but ``Session.execute`` is typed to return
    the plain ``Result``, which has no ``rowcount``: the cast is SQLAlchemy's own advice (2.0.44 changelog).
    """
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite's advice for WAL: NORMAL syncs at checkpoints, not on every commit. A crashed process
    # loses nothing; only a power cut may lose the last commits (production runs Postgres).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
