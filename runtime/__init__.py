"""What a process needs to do Leadline's work, built once from the settings.

The web app (``app.create_app``) and the worker (``jobs.worker``) each build a :class:`Runtime`
through :func:`jobs.process.build_runtime`, which wires the :class:`Jobs` port to RQ; jobs reach
the worker's through :func:`jobs.process.current`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.twilio.client import MessageClient, make_client
from graph.playbook import Playbook, load_playbook
from settings import Settings
from store.db import make_engine, make_sessionmaker
from store.redis import connect

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from bot.llm import LanguageModel
    from bot.twilio.rate import SendRate
    from graph.builder import QualificationGraph


class Jobs(Protocol):
    """The work a process hands to the job queue, as its composition root wired it (:class:`jobs.enqueue.RQJobs`
    on RQ). The web process and the conversation code queue work through this, never by importing jobs/.

    Every method puts work in Redis and may raise ``redis.RedisError`` (except :meth:`after_commit`, which logs);
    the database stays the truth and the reconciler re-enqueues what Redis never got.
    """

    def turns(self, message_id: int, sender: str) -> None:
        """A conversation's pending turns, from inbound message ``message_id`` on (one at a time per sender)."""

    def first_touch(self, *, lead_id: int, capture_id: int, address: str) -> None:
        """A captured lead's T+0 first touch."""

    def send(self, message_id: int, *, delay_s: float = 0) -> None:
        """One outbox row's send, after ``delay_s`` seconds."""

    def send_in_order(self, outbox_ids: list[int], *, delay_s: float) -> None:
        """A turn's remaining outbox rows, in order, after ``delay_s`` seconds."""

    def send_held(self, message_id: int) -> None:
        """An outbox row held past now (``send_after``), for then."""

    def after_commit(self, *, outbox_ids: list[int], touch_ids: Sequence[int] = ()) -> None:
        """The sends and touches a committed web request left."""

    def touches(self, touch_ids: Sequence[int], when: datetime, *, job_id: str | None = None) -> str:
        """A batch of touches due at ``when`` (UTC); returns the job id."""

    def touch(self, touch_id: int, when: datetime) -> str:
        """One touch alone, at ``when`` (UTC); returns the job id."""

    def stall_check(self, lead_id: int, delay: timedelta) -> None:
        """A look, after ``delay``, at whether the lead went quiet mid-qualification."""

    def crm_note(self, lead_id: int) -> None:
        """The model's CRM note for a lead that reached an outcome."""

    def alive(self, job_ids: list[str]) -> set[str]:
        """Those of ``job_ids`` that will still run."""

    def forget(self, *, phone: str, lead_ids: list[int], message_ids: list[int], touch_ids: list[int]) -> int:
        """Drop every queued job for a number's rows (erasure); returns how many."""


class _Unwired:
    """``Runtime.jobs`` until a composition root wires it: any use is a programming error, said plainly."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("this runtime has no job queue wired: build it with jobs.process.build_runtime")


@dataclass
class Runtime:
    """Settings, playbook, database, Redis, queue, the jobs port, and (lazily) the Twilio client and the graph."""

    settings: Settings
    playbook: Playbook
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    queue: Queue
    jobs: Jobs = field(default_factory=_Unwired)
    _resources: ExitStack = field(default_factory=ExitStack)

    @cached_property
    def twilio(self) -> MessageClient:
        """Twilio's Messages resource through the twilio REST client (base URL ``TWILIO_API_BASE_URL``)."""
        return MessageClient(make_client(self.settings), status_callback=f"{self.settings.public_base_url}/twilio/status")

    @cached_property
    def checkpointer(self) -> "BaseCheckpointSaver[str]":
        """The conversations' checkpointer, open for the life of the runtime: the one :attr:`graph` is compiled
        with, which erasure and pruning use directly (imported here: a web process that never runs a turn does
        not load LangGraph)."""
        from store.checkpoints import open_checkpointer

        return self._resources.enter_context(open_checkpointer(
            self.settings.database_url, pool_size=self.settings.worker_threads))

    @cached_property
    def graph(self) -> "QualificationGraph":
        """The conversation graph on :attr:`checkpointer`."""
        from graph.builder import build_graph

        return build_graph(self.checkpointer)

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


def build_runtime(settings: Settings, *, jobs: Callable[[Runtime], Jobs] | None = None) -> Runtime:
    """Build a runtime; ``jobs`` makes its :class:`Jobs` (the composition roots pass ``jobs.enqueue.RQJobs``).

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
    rt = Runtime(settings=settings, playbook=playbook, engine=engine, sessions=make_sessionmaker(engine),
                 redis=redis, queue=queue)
    if jobs is not None:
        rt.jobs = jobs(rt)
    return rt

