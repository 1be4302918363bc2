"""What a process needs to do Leadline's work, built once from the settings.

The web app (``app.create_app``) and the worker (``jobs.worker``) each build a
:class:`Runtime`; jobs reach the worker's through :func:`current`.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.twilio.sender import Sender, make_client
from graph.playbook import Playbook, load_playbook
from settings import Settings
from store.db import make_engine, make_sessionmaker
from store.redis import connect

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from bot.llm import LanguageModel
    from bot.twilio.rate import SendRate


@dataclass
class Runtime:
    """Settings, playbook, database, Redis, queue, and (lazily) the Twilio sender and the graph."""

    settings: Settings
    playbook: Playbook
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    queue: Queue
    _resources: ExitStack = field(default_factory=ExitStack)

    @cached_property
    def sender(self) -> Sender:
        return Sender(make_client(self.settings), status_callback=f"{self.settings.public_base_url}/twilio/status")

    @cached_property
    def graph(self) -> "CompiledStateGraph":
        """The conversation graph with its checkpointer open for the life of the runtime (imported here: a web
        process that never runs a turn does not load LangGraph)."""
        from graph.builder import build_graph
        from store.checkpoints import open_checkpointer

        return build_graph(self._resources.enter_context(open_checkpointer(
            self.settings.database_url, pool_size=self.settings.worker_threads)))

    @cached_property
    def send_rate(self) -> "SendRate":
        """The per-sender send-rate buckets (shared through Redis)."""
        from bot.twilio.rate import SendRate

        return SendRate(self.redis, default_mps=self.settings.twilio_mps, overrides=self.settings.twilio_mps_overrides)

    @cached_property
    def llm(self) -> "LanguageModel | None":
        """The language model when ``OPENAI_API_KEY`` is set; None: the deterministic path only."""
        if self.settings.openai_api_key is None:
            return None
        from bot.llm import LanguageModel

        return LanguageModel(self.settings, self.playbook, self.sessions)

    def close(self) -> None:
        self._resources.close()
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Build a runtime.

    Raises:
        graph.playbook.PlaybookError: the playbook is missing or invalid (start-up must stop).
    """
    playbook = load_playbook(settings.playbook)
    # One connection per job thread, and some room on top for the touch threads' claims (each holds one for
    # about a millisecond; more of them wait for a connection rather than open one each).
    engine = make_engine(settings.database_url, pool_size=settings.worker_threads, max_overflow=16)
    redis = connect(settings.redis_url, settings.embedded_redis_path)
    queue = Queue(settings.queue_name, connection=redis, serializer=JSONSerializer,
                  default_timeout=settings.job_timeout_s)
    return Runtime(settings=settings, playbook=playbook, engine=engine, sessions=make_sessionmaker(engine),
                   redis=redis, queue=queue)


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the one :func:`current` returns in this process."""
    global _current
    _current = runtime


def current() -> Runtime:
    """This process's runtime, built from the environment on first use (e.g. under a plain ``rq worker``)."""
    global _current
    if _current is None:
        _current = build_runtime(Settings())
    return _current
