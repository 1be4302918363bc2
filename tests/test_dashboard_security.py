"""The dashboard's security rules, on the real app over HTTP: the session (a server-side id, revoked on logout),
the signing key, the security headers and bounded inputs. The login's own rules (where it goes next, the
throttle) are in tests/test_dashboard_login.py."""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from pydantic import ValidationError
from redis import Redis

from app import create_app
from bot.devserver import local_secret_key
from bot.sandbox import serve_in_thread
from settings import Settings
from store.bounds import MAX_ID
from store.models import Lead
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DASHBOARD_PASSWORD, SECRET_KEY, free_port
from web.accounts import OWNER
from web.dashboard.guard import CONTENT_SECURITY_POLICY
from web.signin import ATTEMPTS_KEY_PREFIX, SESSION_KEY_PREFIX

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: requests.Session, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    page = client.get(url, timeout=10)
    match = _TOKEN.search(page.text)
    assert match, f"no csrf_token on {url} ({page.status_code})"
    return match.group(1)


def try_login(base: str, password: str, *, username: str = OWNER, client: requests.Session | None = None,
              next_url: str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
    """One login attempt, as a browser makes it (the form's page first, then its POST); not followed. The user is
    ``owner`` (``DASHBOARD_PASSWORD``'s) unless said."""
    client = client or requests.Session()
    login_url = f"{base}/dashboard/login"
    token = csrf_token(client, login_url)
    params = {"next": next_url} if next_url is not None else None
    return client.post(login_url, params=params, data={"username": username, "password": password, "csrf_token": token},
                       headers=headers, timeout=10, allow_redirects=False)


def logged_in(base: str, username: str = OWNER, password: str = DASHBOARD_PASSWORD) -> requests.Session:
    client = requests.Session()
    answer = try_login(base, password, username=username, client=client)
    assert answer.status_code == 302, answer.text
    return client


def signed_cookie(secret_key: str, payload: dict[str, Any]) -> str:
    """A Flask session cookie carrying ``payload``, signed with ``secret_key`` as Flask signs one."""
    signer = Flask("forger")
    signer.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    assert serializer is not None
    return serializer.dumps(payload)


def clear_throttle(redis: Redis) -> None:
    for key in redis.scan_iter(f"{ATTEMPTS_KEY_PREFIX}*"):
        redis.delete(key)


@pytest.fixture(autouse=True)
def fresh_throttle(redis_conn: Redis) -> Iterator[None]:
    """Every test here starts unthrottled and leaves no lockout behind (the ``web`` app is the whole suite's)."""
    clear_throttle(redis_conn)
    yield
    clear_throttle(redis_conn)


@pytest.fixture
def lead_id(sessions: Any, phone: Any) -> int:
    with sessions.begin() as s:
        lead = Lead(business_id=1, phone=phone(), channel="sms", source="test", status="contacted", answers={})
        s.add(lead)
        s.flush()
        return lead.id


# --- settings and the signing key -------------------------------------------------------------------------

def test_an_open_dashboard_without_a_secret_key_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SECRET_KEY", "DASHBOARD_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    base = {"_env_file": None, "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN}
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(**base, dashboard_password=DASHBOARD_PASSWORD)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(**base, dashboard_password=DASHBOARD_PASSWORD, secret_key="short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(**base, secret_key="short")  # users may sign in with it: it is never weak
    assert Settings(**base).secret_key is None  # a closed dashboard needs none


def test_without_a_secret_key_the_dashboard_is_closed(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"secret_key": None, "dashboard_password": None}))
    server, url = serve_in_thread(app)
    try:
        login = requests.get(f"{url}/dashboard/login", timeout=10)
        assert login.status_code == 503 and "set SECRET_KEY" in login.text
        assert requests.post(f"{url}/dashboard/login", timeout=10).status_code == 400  # no CSRF token: nothing signed
        page = requests.get(f"{url}/dashboard", timeout=10, allow_redirects=False)
        assert page.status_code == 302 and "/dashboard/login" in page.headers["Location"]
    finally:
        server.shutdown()
        app.extensions["leadline"].close()


def test_a_cookie_signed_with_the_old_password_derived_key_opens_nothing(web: str) -> None:
    old_key = hashlib.sha256(b"leadline-session:" + DASHBOARD_PASSWORD.encode()).hexdigest()
    forged = requests.get(f"{web}/dashboard", cookies={"session": signed_cookie(old_key, {"dashboard": True})},
                          timeout=10, allow_redirects=False)
    assert forged.status_code == 302 and "/dashboard/login" in forged.headers["Location"]


def test_a_rightly_signed_cookie_without_a_live_session_id_opens_nothing(web: str) -> None:
    for payload in ({"dashboard": True}, {"sid": "guessed"}, {"sid": 1}):
        answer = requests.get(f"{web}/dashboard", cookies={"session": signed_cookie(SECRET_KEY, payload)},
                              timeout=10, allow_redirects=False)
        assert answer.status_code == 302 and "/dashboard/login" in answer.headers["Location"], payload


def test_make_run_keeps_its_generated_secret_key_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret_key"
    key = local_secret_key(path)
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret_key(path) == key
    assert local_secret_key(tmp_path / "other") != key


# --- revocable sessions -----------------------------------------------------------------------------------

def test_logout_ends_the_session_for_every_copy_of_the_cookie(web: str, redis_conn: Redis) -> None:
    first = logged_in(web)
    copy = requests.Session()
    copy.cookies.update(first.cookies)
    assert copy.get(f"{web}/dashboard", timeout=10, allow_redirects=False).status_code == 200
    stored = list(redis_conn.scan_iter(f"{SESSION_KEY_PREFIX}*"))
    assert stored and all(0 < redis_conn.ttl(k) <= 12 * 3600 for k in stored)

    token = csrf_token(first, f"{web}/dashboard")
    out = first.post(f"{web}/dashboard/logout", data={"csrf_token": token}, timeout=10, allow_redirects=False)
    assert out.status_code == 302
    after = copy.get(f"{web}/dashboard", timeout=10, allow_redirects=False)
    assert after.status_code == 302 and "/dashboard/login" in after.headers["Location"]
    assert len(list(redis_conn.scan_iter(f"{SESSION_KEY_PREFIX}*"))) == len(stored) - 1


def test_with_redis_down_nobody_gets_in(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/13"}))
    server, url = serve_in_thread(app)
    try:
        cookie = {"session": signed_cookie(SECRET_KEY, {"sid": "some-session-id"})}
        assert requests.get(f"{url}/dashboard", cookies=cookie, timeout=10, allow_redirects=False).status_code == 503
        assert try_login(url, DASHBOARD_PASSWORD).status_code == 503
    finally:
        server.shutdown()
        app.extensions["leadline"].close()


# --- security headers -------------------------------------------------------------------------------------

def assert_secured(answer: requests.Response, *, page: bool = True) -> None:
    where = f"{answer.request.method} {answer.request.path_url} ({answer.status_code})"
    headers = answer.headers
    assert headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), where
    if page:
        assert headers.get("Cache-Control") == "no-store", where


def dashboard_paths(settings: Settings, values: dict[str, Any]) -> list[tuple[Any, str]]:
    """Every ``dashboard.*`` rule of an app like the ``web`` one (the same blueprint), with a path for it."""
    app = create_app(settings)
    try:
        with app.test_request_context():
            rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("dashboard.")]
            return [(r, app.url_for(r.endpoint, **{k: values[k] for k in r.arguments})) for r in rules]
    finally:
        app.extensions["leadline"].close()


def test_every_dashboard_response_carries_the_security_headers(web: str, settings: Settings, lead_id: int) -> None:
    signed_in, anonymous = logged_in(web), requests.Session()
    token = csrf_token(signed_in, f"{web}/dashboard")
    paths = dashboard_paths(settings, {"lead_id": lead_id, "message_id": MAX_ID, "filename": "dashboard.css"})
    covered = set()
    for rule, path in paths:
        static = rule.endpoint == "dashboard.static"
        if rule.endpoint == "dashboard.logout":
            continue  # below, last: it ends the session
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                answers = [signed_in.get(f"{web}{path}", timeout=10, allow_redirects=False),
                           anonymous.get(f"{web}{path}", timeout=10, allow_redirects=False)]
            else:
                # A real lead's page only for the note (no message goes out); every other action on a lead
                # that does not exist (404), and each without its CSRF token (400).
                target = path if rule.endpoint in ("dashboard.note", "dashboard.login") else \
                    path.replace(f"/leads/{lead_id}/", f"/leads/{MAX_ID}/")
                form = {"csrf_token": token, "text": "checked the headers", "password": "wrong"}
                answers = [signed_in.post(f"{web}{target}", data=form, timeout=10, allow_redirects=False),
                           signed_in.post(f"{web}{target}", data={}, timeout=10, allow_redirects=False)]
            for answer in answers:
                assert answer.status_code < 500, (path, answer.status_code)
                assert_secured(answer, page=not (static and answer.status_code == 200))
            covered.add(rule.endpoint)
    for path in ("/dashboard/no-such-page", "/dashboard/static/missing.css", f"/dashboard/leads/{MAX_ID}"):
        missing = signed_in.get(f"{web}{path}", timeout=10, allow_redirects=False)
        assert missing.status_code == 404
        assert_secured(missing)
    out = signed_in.post(f"{web}/dashboard/logout", data={"csrf_token": token}, timeout=10, allow_redirects=False)
    assert out.status_code == 302
    assert_secured(out)
    covered.add("dashboard.logout")
    assert covered == {r.endpoint for r, _ in paths}
    assert len(covered) >= 14  # login, logout, work queue, lead, export, static and the lead actions


def test_static_files_are_cacheable_and_the_pages_have_no_inline_code(web: str, lead_id: int) -> None:
    css = requests.get(f"{web}/dashboard/static/dashboard.css", timeout=10)
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")
    client = logged_in(web)
    for path in ("/dashboard/login", "/dashboard", f"/dashboard/leads/{lead_id}"):
        html = client.get(f"{web}{path}", timeout=10).text
        # What the policy would block: inline scripts, inline styles and event handlers.
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", html, re.I), path


# --- inputs that were 500s --------------------------------------------------------------------------------

def test_a_huge_page_number_is_read_as_the_first_page(web: str) -> None:
    client = logged_in(web)
    for page in ("99999999999999999999", "21474837", "-1", "0", "x", "²"):
        answer = client.get(f"{web}/dashboard", params={"page": page}, timeout=10)
        assert answer.status_code == 200 and "Work queue" in answer.text, page
    last = client.get(f"{web}/dashboard", params={"page": "21474836"}, timeout=10)  # MAX_COUNT // PAGE_SIZE
    assert last.status_code == 200 and "No leads here." in last.text


def test_ids_past_what_a_column_holds_are_not_found(web: str, lead_id: int) -> None:
    client = logged_in(web)
    token = csrf_token(client, f"{web}/dashboard")
    huge = "99999999999999999999"
    for path in (f"/dashboard/leads/{huge}", f"/dashboard/leads/{MAX_ID + 1}", "/dashboard/leads/0",
                 "/dashboard/leads/%D9%A3"):  # an Arabic-Indic 3
        assert client.get(f"{web}{path}", timeout=10).status_code == 404, path
    for path in (f"/dashboard/leads/{lead_id}/drafts/{huge}/approve", f"/dashboard/leads/{huge}/drafts/1/approve",
                 f"/dashboard/leads/{huge}/note", f"/dashboard/leads/{MAX_ID}/note",
                 f"/dashboard/leads/{huge}/won"):
        answer = client.post(f"{web}{path}", data={"csrf_token": token, "text": "x"}, timeout=10,
                             allow_redirects=False)
        assert answer.status_code == 404, path
    assert client.get(f"{web}/dashboard/leads/{lead_id}", timeout=10).status_code == 200
