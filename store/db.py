"""Engines and sessions for SQLite (default) and Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30


POSTGRES_CONNECT_TIMEOUT_S = 3
"""Longest wait to open a Postgres connection, seconds."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys so several processes share it.

    ``postgresql://`` URLs are taken to mean psycopg 3.
    """
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
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # A down or unreachable database must fail a request fast (the webhook answers 503 so Twilio
    # uses its fallback URL), not hang on the OS's connect timeout.
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if sa_url.get_backend_name() == "postgresql" else {}
    return create_engine(sa_url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (rows are handed across layers as values)."""
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # SQLite's advice for WAL: NORMAL syncs at checkpoints, not on every commit. A crashed process
    # loses nothing; only a power cut may lose the last commits (production runs Postgres).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
