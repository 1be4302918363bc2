"""Schema migrations: Alembic for Leadline's tables, then the checkpointer's own tables."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from store.checkpoints import open_checkpointer

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(database_url: str) -> Config:
    """Alembic's config for ``database_url``."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the latest schema; safe to run again.

    Run once per deploy (the Procfile's ``release`` step, ``make run``), not in every
    process: concurrent DDL from many workers is what release phases exist to avoid.
    """
    command.upgrade(alembic_config(database_url), "head")
    with open_checkpointer(database_url) as saver:
        saver.setup()
