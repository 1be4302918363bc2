"""Helpers for tests of a many-business deployment (``BUSINESSES_DIR``): business files, synced as ``leadline
businesses sync`` syncs them, and a web app over HTTP on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from bot.sandbox import serve_in_thread
from graph.playbook import _Yaml12Loader
from runtime.declarations import sync_directory
from store.db import make_engine, make_sessionmaker
from store.models import Lead
from store.tenancy import Business
from tests.conftest import ROOT, fresh_database, stack_settings

T0 = datetime(2020, 3, 2, 15, 0, tzinfo=timezone.utc)
"""When the tests' leads were captured (a past month, so "this month" figures hold only what a test adds now)."""


def write_business(directory: Path, slug: str, *, name: str, sms: list[str], zone: str = "America/Denver",
                   qualified_per_month: int | None = None) -> Path:
    """``<directory>/<slug>.yaml``: the example playbook as business ``name`` with its own SMS numbers."""
    data = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    data["business"].update(name=name, timezone=zone, senders={"sms": sms})
    if qualified_per_month:
        data["goals"] = {"qualified_per_month": qualified_per_month}
    path = directory / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Tenants:
    """A many-business web app: its base URL, database, sessions on it, ids of its businesses by slug, and
    whatever tokens a test issues."""

    url: str
    app: Flask
    database_url: str
    sessions: sessionmaker[Session]
    ids: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)


@contextmanager
def tenant_app(tmp: Path, redis_url: str, suffix: str, businesses: dict[str, dict[str, Any]],
               **overrides: Any) -> Iterator[Tenants]:
    """A fresh database (``suffix``), ``businesses`` (slug → :func:`write_business` arguments) synced into it, and
    the web app serving them over HTTP (``STATS_TOKEN`` is then the agency's)."""
    database_url = fresh_database(tmp, suffix=suffix)
    directory = tmp / f"businesses{suffix}"
    directory.mkdir()
    for slug, kw in businesses.items():
        write_business(directory, slug, **kw)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    sync_directory(sessions, directory)
    with sessions() as s:
        ids = {b.slug: b.id for b in s.query(Business).filter(Business.slug.in_(list(businesses)))}
    settings = stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url="http://127.0.0.1:9",
                              web_port=9, playbook=ROOT / "playbook.yaml", businesses_dir=directory,
                              **{"dashboard_password": None, **overrides})
    app = create_app(settings)
    server, url = serve_in_thread(app)
    try:
        yield Tenants(url=url, app=app, database_url=database_url, sessions=sessions, ids=ids)
    finally:
        server.shutdown()
        app.extensions["leadline"].close()
        engine.dispose()


def add_lead(session: Session, business_id: int, phone: str, *, answered_after: float | None = None,
             **columns: Any) -> Lead:
    """A lead of business ``business_id`` captured at :data:`T0`, first answered ``answered_after`` minutes later
    (None: never)."""
    lead = Lead(**{"business_id": business_id, "phone": phone, "channel": "sms", "source": "form", "status": "contacted",
                   "answers": {}, "created_at": T0, "first_response_due_at": T0 + timedelta(minutes=5),
                   "first_response_at": None if answered_after is None else T0 + timedelta(minutes=answered_after),
                   **columns})
    session.add(lead)
    session.flush()
    return lead
