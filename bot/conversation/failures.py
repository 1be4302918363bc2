"""Which failures of a job are worth retrying: the outside world being away, not the work itself being bad.

A turn that fails because the database, Redis, Twilio or the model is unavailable will likely pass
later, so it is retried (RQ's back-off). Any other failure (a bug, or input the code cannot take) fails
the same way on every attempt, so retrying it only makes the sender's later messages, STOP included,
wait behind it: such a message is dead-lettered at once (:mod:`bot.conversation.dead_letters`).
"""

from __future__ import annotations

import sqlite3

import psycopg
import requests
from psycopg_pool import PoolTimeout
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.timeouts import JobTimeoutException
from sqlalchemy import exc as sa_exc
from twilio.base.exceptions import TwilioRestException

TRANSIENT: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # the database is down, restarting, locked, or the connection was cut
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # SQLAlchemy's pool had no connection to give
    psycopg.OperationalError,  # the Postgres checkpointer's own connections
    PoolTimeout,
    sqlite3.OperationalError,  # the SQLite checkpointer's own connection ("database is locked")
    RedisConnectionError, RedisTimeoutError, BusyLoadingError,
    requests.ConnectionError, requests.Timeout,  # Twilio's API (the twilio client uses requests) or the model
    ConnectionError, TimeoutError,
    JobTimeoutException,  # the job ran out of time, e.g. waiting on a slow dependency
)

try:  # the model's client: only what says the server is away or busy
    import openai

    TRANSIENT += (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                  openai.InternalServerError)
except ImportError:  # pragma: no cover - langchain-openai brings openai
    pass


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says a dependency is unavailable.

    Twilio's REST errors count when Twilio answered 429 or 5xx (its API's own "try again later").
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TRANSIENT):
            return True
        if isinstance(current, TwilioRestException) and (current.status == 429 or current.status >= 500):
            return True
        current = current.__cause__ or current.__context__
    return False
