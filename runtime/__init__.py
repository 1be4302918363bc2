"""What a process needs to do Leadline's work, built once from the settings, and seen as one business at a time
(:meth:`Runtime.for_business`; the businesses themselves: :mod:`runtime.businesses`, :mod:`runtime.declarations`).

The web app (``app.create_app``) and the worker (``jobs.worker``) each build a :class:`Runtime`
through :func:`jobs.process.build_runtime`, which wires the :class:`Jobs` port to RQ; jobs reach
the worker's through :func:`jobs.process.current`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.twilio.client import MessageClient, make_client
from graph.playbook import Playbook, read_playbook
from runtime.businesses import BusinessContext, Directory
from settings import Settings
from store.db import make_engine, make_sessionmaker
from store.leads import lead_scope
from store.redis import connect
from store.tenancy import DEFAULT_BUSINESS_ID

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
class _Shared:
    """What every business's view of one runtime shares, built on first use: the Twilio client, the checkpointer
    and the compiled graph (one per process: the graph reads its playbook from the turn's context), the send-rate
    buckets, and a language model per playbook version."""

    resources: ExitStack = field(default_factory=ExitStack)
    built: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str, build: Callable[[], Any]) -> Any:
        with self.lock:
            if name not in self.built:
                self.built[name] = build()
            return self.built[name]


@dataclass
class Runtime:
    """Settings, database, Redis, queue, the jobs port, the businesses, and (lazily) the Twilio client and the graph.

    A runtime serves one business at a time (:attr:`business`, :attr:`playbook`): :meth:`for_business` gives the
    view of another, sharing everything else. A one-business deployment's runtime serves the ``default`` business
    from the start; with ``BUSINESSES_DIR`` a request or job scopes it from the business its row belongs to.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    queue: Queue
    directory: Directory
    jobs: Jobs = field(default_factory=_Unwired)
    scope: BusinessContext | None = None
    _shared: _Shared = field(default_factory=_Shared)

    @property
    def business(self) -> BusinessContext:
        """The business this view serves.

        Raises:
            RuntimeError: a many-business runtime that was not scoped (a programming error: rows of one business
                would be handled with another's playbook).
        """
        if self.scope is not None:
            return self.scope
        if not self.directory.single:
            raise RuntimeError("this runtime serves many businesses: scope it with for_business(business_id)")
        return self.directory.get(DEFAULT_BUSINESS_ID)

    @property
    def playbook(self) -> Playbook:
        """The playbook (version) of :attr:`business`."""
        return self.business.playbook

    def for_business(self, business_id: int, *, version_id: int | None = None) -> Runtime:
        """This runtime as business ``business_id`` with playbook version ``version_id`` (None: its current).

        Raises:
            runtime.businesses.UnknownBusiness: no such business or version.
        """
        return replace(self, scope=self.directory.get(business_id, version_id=version_id))

    def for_lead(self, business_id: int, playbook_version_id: int | None) -> Runtime:
        """This runtime as a lead's business, speaking with the playbook version its conversation started on."""
        return self.for_business(business_id, version_id=playbook_version_id)

    def for_lead_id(self, lead_id: int | None = None, *, touch_id: int | None = None) -> Runtime | None:
        """:meth:`for_lead` of lead ``lead_id`` (or of touch ``touch_id``'s lead); None when it is gone (erased).
        A job takes an id, not a row: this is how it finds whose playbook and senders it works with."""
        with self.sessions() as session:
            scope = lead_scope(session, lead_id=lead_id, touch_id=touch_id)
        return None if scope is None else self.for_lead(*scope)

    @property
    def twilio(self) -> MessageClient:
        """Twilio's Messages resource through the twilio REST client (base URL ``TWILIO_API_BASE_URL``)."""
        return self._shared.get("twilio", lambda: MessageClient(
            make_client(self.settings), status_callback=f"{self.settings.public_base_url}/twilio/status"))

    @property
    def checkpointer(self) -> "BaseCheckpointSaver[str]":
        """The conversations' checkpointer, open for the life of the runtime: the one :attr:`graph` is compiled
        with, which erasure and pruning use directly (imported here: a web process that never runs a turn does
        not load LangGraph)."""
        from store.checkpoints import open_checkpointer

        return self._shared.get("checkpointer", lambda: self._shared.resources.enter_context(open_checkpointer(
            self.settings.database_url, pool_size=self.settings.worker_threads)))

    @property
    def graph(self) -> "QualificationGraph":
        """The conversation graph on :attr:`checkpointer`, compiled once per process for every business."""
        from graph.builder import build_graph

        checkpointer = self.checkpointer
        return self._shared.get("graph", lambda: build_graph(checkpointer))

    @property
    def send_rate(self) -> "SendRate":
        """The per-sender send-rate buckets (shared through Redis, keyed by sender: they span every business)."""
        from bot.twilio.rate import SendRate

        return self._shared.get("send_rate", lambda: SendRate(
            self.redis, default_mps=self.settings.twilio_mps, overrides=self.settings.twilio_mps_overrides))

    @property
    def llm(self) -> "LanguageModel | None":
        """The language model, speaking with :attr:`playbook`, when ``OPENAI_API_KEY`` is set; None: the
        deterministic path only."""
        if self.settings.openai_api_key is None:
            return None
        from bot.llm import LanguageModel

        business = self.business
        return self._shared.get(f"llm:{business.id}:{business.version_id}",
                                lambda: LanguageModel(self.settings, business.playbook, self.sessions,
                                                              business_id=business.id))

    def close(self) -> None:
        self._shared.resources.close()
        self.directory.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, jobs: Callable[[Runtime], Jobs] | None = None) -> Runtime:
    """Build a runtime; ``jobs`` makes its :class:`Jobs` (the composition roots pass ``jobs.enqueue.RQJobs``).

    Raises:
        graph.playbook.PlaybookError: the playbook is missing or invalid (start-up must stop).
    """
    playbook, document = (None, None) if settings.businesses_dir is not None else read_playbook(settings.playbook)
    # One connection per job thread, and some room on top for the touch threads' claims (each holds one for
    # about a millisecond; more of them wait for a connection rather than open one each).
    engine = make_engine(settings.database_url, pool_size=settings.worker_threads, max_overflow=16)
    redis = connect(settings.redis_url, settings.embedded_redis_path)
    queue = Queue(settings.queue_name, connection=redis, serializer=JSONSerializer,
                  default_timeout=settings.job_timeout_s)
    sessions = make_sessionmaker(engine)
    reads = make_sessionmaker(make_engine(settings.database_url, reads_only=True, pool_size=2, max_overflow=8)
                              ) if settings.uses_sqlite else sessions
    rt = Runtime(settings=settings, engine=engine, sessions=sessions, redis=redis, queue=queue,
                 directory=Directory(settings, sessions, playbook, document, reads=reads))
    rt.directory.warm()  # before any transaction of the process's: recording the version may write
    if jobs is not None:
        rt.jobs = jobs(rt)
    return rt

