"""Alembic environment: migrates the database named by the caller (or ``-x url=``)."""

from __future__ import annotations

from alembic import context

import store.content_templates  # noqa: F401  (its table joins Base.metadata)
import store.tenancy  # noqa: F401  (so do the businesses' tables)
from store.db import make_engine
from store.models import Base

config = context.config
url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get("url")
if not url:
    raise SystemExit("no database URL: run `leadline db upgrade`, or pass -x url=...")


def run_migrations(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations(url)
