"""Alembic environment: migrates the database named by the caller (or ``-x url=``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

import store.content_templates  # noqa: F401  (its table joins Base.metadata)
import store.tenancy  # noqa: F401  (so do the businesses' tables)
from store.db import make_engine
from store.models import Base

config = context.config
url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get("url")
if not url:
    raise SystemExit("no database URL: run `leadline db upgrade`, or pass -x url=...")


def foreign_keys_off(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """SQLite: batch mode copies a table, drops the old one and renames the copy. With foreign keys enforced (as
    ``make_engine`` sets them), that DROP first deletes the table's rows and SQLite carries the delete to every table
    referring to it: ON DELETE CASCADE rows deleted, SET NULL references cleared. Alembic's advice: enforcement off
    while migrating. Set as the connection opens, outside any transaction (SQLite ignores the pragma inside one)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def run_migrations(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", foreign_keys_off)  # after make_engine's own pragmas
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations(url)
