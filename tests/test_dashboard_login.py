"""Logging in to the dashboard (web.dashboard.login), on the real app over HTTP: where a login goes next, and
the login throttle (atomic, per client address, behind trusted proxies only as told, lockouts logged and
counted)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from flask import Flask
from redis import Redis
from sqlalchemy import select

from app import create_app
from bot.sandbox import serve_in_thread
from settings import Settings
from store.tenancy import DEFAULT_BUSINESS_ID, User
from tests.conftest import DASHBOARD_PASSWORD
from tests.test_dashboard_security import clear_throttle, csrf_token, try_login
from web.passwords import stamp
from web.signin import ATTEMPTS_KEY_PREFIX, LOGIN_LIMIT, SESSION_KEY_PREFIX, lockout_count


@pytest.fixture(autouse=True)
def fresh_throttle(redis_conn: Redis) -> Iterator[None]:
    """Every test here starts unthrottled and leaves no lockout behind (the ``web`` app is the whole suite's)."""
    clear_throttle(redis_conn)
    yield
    clear_throttle(redis_conn)


@pytest.fixture(scope="module")
def proxied(settings: Settings) -> Iterator[tuple[Flask, str]]:
    """A second web app on the same database and Redis, configured behind one reverse proxy (TRUSTED_PROXIES=1)."""
    app = create_app(settings.model_copy(update={"trusted_proxies": 1}))
    server, url = serve_in_thread(app)
    yield app, url
    server.shutdown()
    app.extensions["leadline"].close()


# --- where a login goes next ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/dashboard/%0D%0AX", "/dashboard/%0aSet-Cookie:%20x=1", "/dashboard/a%09b",
                                    "/dashboard/%7F", "/dashboard\\@evil.example", "//evil.example/dashboard",
                                    "https://evil.example/dashboard", "/dashboardx/../../x y"])
def test_login_with_an_unsafe_next_goes_to_the_work_queue(web: str, target: str) -> None:
    answer = try_login(web, DASHBOARD_PASSWORD, next_url=unquote(target))
    assert answer.status_code == 302
    assert answer.headers["Location"].removeprefix(web) in ("/dashboard", "/dashboard/")


def test_login_with_a_dashboard_next_goes_back_there(web: str) -> None:
    answer = try_login(web, DASHBOARD_PASSWORD, next_url="/dashboard?status=all&owner=Dana")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard?status=all&owner=Dana")


# --- who signs in ------------------------------------------------------------------------------------------

def test_dashboard_password_signs_in_the_owner_whose_argon2_hash_alone_is_stored(web: str, sessions: Any,
                                                                                  redis_conn: Redis) -> None:
    client = requests.Session()
    assert try_login(web, DASHBOARD_PASSWORD, client=client).status_code == 302
    with sessions() as s:
        owner = s.scalar(select(User).where(User.username == "owner"))
    assert owner.business_id == DEFAULT_BUSINESS_ID
    assert owner.password_hash.startswith("$argon2id$") and DASHBOARD_PASSWORD not in owner.password_hash
    held = [redis_conn.get(k).decode() for k in redis_conn.scan_iter(f"{SESSION_KEY_PREFIX}*")]
    assert f"{owner.id}:{stamp(owner.password_hash)}" in held and not any(DASHBOARD_PASSWORD in v for v in held)
    assert DASHBOARD_PASSWORD not in str(client.cookies.get_dict())


@pytest.mark.parametrize("username, password", [("owner", "wrong"), ("nobody", DASHBOARD_PASSWORD), ("", "")])
def test_a_wrong_username_or_password_is_refused_alike(web: str, username: str, password: str) -> None:
    answer = try_login(web, password, username=username)
    assert answer.status_code == 401 and "Wrong username or password." in answer.text
    assert try_login(web, DASHBOARD_PASSWORD, username="OWNER").status_code == 302


# --- login throttle ---------------------------------------------------------------------------------------

def test_parallel_wrong_passwords_are_checked_at_most_the_limit(web: str) -> None:
    clients = [requests.Session() for _ in range(40)]
    tokens = [csrf_token(c, f"{web}/dashboard/login") for c in clients]
    start = threading.Barrier(len(clients))

    def attempt(n: int) -> int:
        start.wait()
        return clients[n].post(f"{web}/dashboard/login", data={"username": "owner", "password": f"guess-{n}",
                                                               "csrf_token": tokens[n]},
                               timeout=20, allow_redirects=False).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        codes = list(pool.map(attempt, range(len(clients))))
    assert set(codes) <= {401, 429}
    assert codes.count(401) == LOGIN_LIMIT, codes
    assert try_login(web, DASHBOARD_PASSWORD).status_code == 429  # even the right password, until the window ends


def test_right_passwords_do_not_use_up_the_limit(web: str) -> None:
    for _ in range(LOGIN_LIMIT + 2):
        assert try_login(web, DASHBOARD_PASSWORD).status_code == 302
    assert try_login(web, "wrong").status_code == 401


def test_without_trusted_proxies_a_forwarded_address_is_ignored(web: str, redis_conn: Redis) -> None:
    for n in range(LOGIN_LIMIT):
        assert try_login(web, "wrong", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
    other = try_login(web, DASHBOARD_PASSWORD, headers={"X-Forwarded-For": "198.51.100.9"})
    assert other.status_code == 429 and int(other.headers["Retry-After"]) > 0
    assert [k.decode() for k in redis_conn.scan_iter(f"{ATTEMPTS_KEY_PREFIX}*")] == [f"{ATTEMPTS_KEY_PREFIX}127.0.0.1"]


def test_behind_a_trusted_proxy_each_client_address_is_throttled_alone(proxied: tuple[Flask, str],
                                                                       redis_conn: Redis) -> None:
    _, url = proxied
    attacker, owner = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "10.1.2.3, 198.51.100.9"}
    for _ in range(LOGIN_LIMIT):
        assert try_login(url, "wrong", headers=attacker).status_code == 401
    assert try_login(url, "wrong", headers=attacker).status_code == 429
    assert try_login(url, DASHBOARD_PASSWORD, headers=attacker).status_code == 429
    assert try_login(url, "wrong", headers=owner).status_code == 401
    assert try_login(url, DASHBOARD_PASSWORD, headers=owner).status_code == 302
    assert redis_conn.exists(f"{ATTEMPTS_KEY_PREFIX}203.0.113.7", f"{ATTEMPTS_KEY_PREFIX}198.51.100.9") == 2
    assert not redis_conn.exists(f"{ATTEMPTS_KEY_PREFIX}127.0.0.1")


def test_each_lockout_is_logged_with_the_address_and_counted_once(web: str, redis_conn: Redis,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    before = lockout_count(redis_conn)
    for _ in range(LOGIN_LIMIT):
        assert try_login(web, "hunter2-wrong").status_code == 401
    assert lockout_count(redis_conn) == before
    with caplog.at_level(logging.WARNING, logger="web.signin"):
        assert try_login(web, "hunter2-wrong").status_code == 429
        assert try_login(web, "hunter2-wrong").status_code == 429
    assert lockout_count(redis_conn) == before + 1
    warnings = [r for r in caplog.records if r.name == "web.signin" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage() and "hunter2" not in warnings[0].getMessage()
    metrics = requests.get(f"{web}/metrics", timeout=10).text
    assert f"leadline_dashboard_lockouts_total {float(before + 1)}" in metrics
