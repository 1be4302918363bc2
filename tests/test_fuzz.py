"""Every endpoint fuzzed with hypothesis: no input, however hostile, gets a 5xx, and the bot still answers.

Bodies, query strings and headers are fuzzed, and every request that needs a signature or a token carries
a valid one, so the fuzz reaches past the check into the code behind it. The Twilio webhooks go to the
real app with the real worker behind it, so fuzzed messages (and rep commands) run real turns.
``FUZZ_EXAMPLES`` sets the budget per endpoint (``make test``: 200; ``make bench``: 10,000).
The last test runs a normal conversation and checks that no fuzzed message was dead-lettered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import create_app
from bot.conversation.keywords import classify
from bot.sandbox import new_sid, serve_in_thread
from graph.parsing import parse_answer
from graph.playbook import load_playbook
from store.inbound import DEAD_LETTERED
from store.models import Message
from store.suppression import is_suppressed
from tests.conftest import (
    ACCOUNT_SID,
    API_TOKEN,
    CALENDLY_KEY,
    DASHBOARD_PASSWORD,
    QUALIFYING_ANSWERS,
    REP_PHONE,
    ROOT,
    SMS_FROM,
    STATS_TOKEN,
    WHATSAPP_FROM,
    Prospect,
    stack_settings,
    wait_for,
)
from tests.test_dashboard_security import csrf_token
from tests.test_webhook import post_signed

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
PLAYBOOK = load_playbook(ROOT / "playbook.yaml")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
FUZZ_NUMBERS = ["+17205557001", "+17205557002", "whatsapp:+17205557003", REP_PHONE]
"""Senders of fuzzed messages: two prospects on SMS, one on WhatsApp, and the rep (rep commands)."""

# --- strategies -------------------------------------------------------------------------------------------

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"),
                      max_size=60).map(str.strip)
HEADERS = st.dictionaries(
    st.sampled_from(["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Accept", "Accept-Language",
                     "Accept-Encoding", "Cookie", "Referer", "User-Agent", "Origin", "If-None-Match", "Range"]),
    header_text, max_size=4)
"""Headers a client or a proxy may set, any value HTTP/1.1 can carry."""

QUERY = st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=4)
huge_ints = st.integers(min_value=-(2**70), max_value=2**70)
numbers_as_text = st.one_of(huge_ints.map(str), st.from_regex(r"\A[0-9²٣]{1,30}\Z"), st.text(max_size=12))
json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
instants = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "9999-12-31", "0001-01-01",
                     "2026-11-01", "2026-13-01", ""]),
    st.text(max_size=30))
phones = st.one_of(st.sampled_from(["+13035550100", "whatsapp:+13035550100", "+1619555ABCD", "+1 (303) 555-0100"]),
                   st.from_regex(r"\A\+?[0-9A-Za-z ()+.-]{0,18}\Z"), st.text(max_size=20))
rep_commands = st.from_regex(r"\A(CLAIM|BOOKED|LOST|YES|EDIT|claim|lost) #?[0-9²]{10,30}( [a-z ]{0,20})?\Z")
"""Rep commands naming no lead that exists (ten digits or more), so the fuzz never changes another test's lead."""


def deep_json(depth: int) -> str:
    return "[" * depth


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings_for_fuzz(database_url, redis_url, sandbox) -> Any:
    return stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url=sandbox.url, web_port=0,
                          playbook=ROOT / "playbook.yaml", queue_name="fuzz-unworked")


@pytest.fixture(scope="module")
def unworked(settings_for_fuzz) -> Any:
    """The web app on the test database with a queue no worker takes: only the webhook is under test."""
    app = create_app(settings_for_fuzz)
    server, url = serve_in_thread(app)
    yield url, app.extensions["leadline"]
    app.extensions["leadline"].queue.empty()
    server.shutdown()
    app.extensions["leadline"].close()


def twilio_post(web: str, settings: Any, path: str, form: dict[str, Any] | list[tuple[str, str]],
                query: dict[str, str], headers: dict[str, str]) -> requests.Response:
    """POST ``form`` to ``path`` signed as Twilio signs it: the public URL with its query string, and every
    parameter (a repeated one too)."""
    from twilio.request_validator import RequestValidator

    pairs = list(form.items()) if isinstance(form, dict) else list(form)
    query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    suffix = f"?{query_string}" if query_string else ""
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        f"{settings.public_base_url}{path}{suffix}", MultiDict(pairs))
    return requests.post(f"{web}{path}{suffix}", data=pairs, timeout=20,
                         headers={**headers, "X-Twilio-Signature": signature})


def assert_no_5xx(answer: requests.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.request.method, answer.request.url, answer.text[:300])


class Dashboard:
    """A logged-in dashboard client (``requests.Session``) with its CSRF token."""

    def __init__(self, web: str):
        self.web, self.http = web, requests.Session()
        self.token = csrf_token(self.http, f"{web}/dashboard/login")
        answer = self.http.post(f"{web}/dashboard/login", data={"username": "owner", "password": DASHBOARD_PASSWORD,
                                                                 "csrf_token": self.token}, timeout=10)
        assert answer.ok and "/dashboard/login" not in answer.url, answer.text[:300]


def clear_login_failures(redis_conn: Any) -> None:
    """Undo what a fuzz of the login did to the shared throttle, so later tests can log in."""
    for key in redis_conn.scan_iter("leadline:login-*"):
        redis_conn.delete(key)


@pytest.fixture(scope="module")
def fuzz_lead(web, worker, sandbox, sessions) -> int:
    """A lead of the fuzz's own, the only one the dashboard fuzz acts on."""
    p = Prospect(sandbox, "+17205557009")
    p.say("hi")
    p.wait_for_replies(2)
    with sessions() as s:
        return s.scalar(select(Message.lead_id).where(Message.from_address == p.address,
                                                      Message.lead_id.is_not(None)))


# --- the Twilio webhooks ----------------------------------------------------------------------------------


@FUZZ
@given(body=st.text(max_size=1600))
def test_any_unicode_body_is_acknowledged_and_stored_exactly(unworked, body):
    url, rt = unworked
    sid = new_sid()
    form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": "+17205559999", "To": SMS_FROM, "Body": body}
    answer = post_signed(f"{url}/twilio/messages", form, signed_url=f"{rt.settings.public_base_url}/twilio/messages")
    assert answer.status_code == 200, answer.text
    with rt.sessions() as s:
        assert s.scalar(select(Message.body).where(Message.twilio_sid == sid)) == body


@FUZZ
@given(sender=st.sampled_from(FUZZ_NUMBERS) | phones, body=st.text(max_size=300) | rep_commands,
       extra=st.dictionaries(st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                                              "MediaContentType0", "ProfileName", "WaId", "AccountSid", "SmsStatus",
                                              "MessagingServiceSid", "Extra"]), st.text(max_size=80), max_size=4),
       repeat=st.sampled_from([None, "MessageSid", "Body", "From"]), query=QUERY, headers=HEADERS)
def test_any_signed_message_gets_an_answer_never_a_server_error(web, worker, settings, sender, body, extra, repeat,
                                                               query, headers):
    form = {"MessageSid": new_sid(), "AccountSid": ACCOUNT_SID, "From": sender,
            "To": WHATSAPP_FROM if sender.startswith("whatsapp:") else SMS_FROM, "Body": body, **extra}
    pairs = list(form.items()) + ([(repeat, form[repeat])] if repeat else [])
    answer = twilio_post(web, settings, "/twilio/messages", pairs, query, headers)
    assert_no_5xx(answer)
    if repeat:
        assert answer.status_code == 400, "a repeated parameter is refused"


@FUZZ
@given(form=st.fixed_dictionaries({}, optional={
    "MessageSid": st.sampled_from(["SM" + "0" * 32]) | st.text(max_size=40), "MessageStatus": st.sampled_from(
        ["queued", "sent", "delivered", "undelivered", "failed", "read"]) | st.text(max_size=20),
    "ErrorCode": numbers_as_text, "ErrorMessage": st.text(max_size=60), "To": phones, "From": phones,
    "AccountSid": st.text(max_size=40), "SmsStatus": st.text(max_size=20)}), query=QUERY, headers=HEADERS)
def test_any_signed_status_callback_gets_an_answer_never_a_server_error(web, settings, form, query, headers):
    assert_no_5xx(twilio_post(web, settings, "/twilio/status", form, query, headers))


# --- the JSON APIs ----------------------------------------------------------------------------------------


lead_payloads = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "event_id": st.text(max_size=70) | json_values, "source": st.text(max_size=70) | json_values,
    "received_at": instants | json_values, "channel": st.sampled_from(["sms", "whatsapp"]) | st.text(max_size=10),
    "service_type": st.text(max_size=70), "urgency": st.text(max_size=70), "contact_method": st.text(max_size=10),
    "phone": phones | json_values, "name": st.text(max_size=210) | json_values,
    "email": st.from_regex(r"\A[a-z_.%]{1,10}@[a-z]{1,8}\.[a-z]{2,3}\Z") | st.text(max_size=30),
    "consent_text": st.text(max_size=100), "unknown": json_values}))


def json_post(url: str, payload: Any, raw: str | None, headers: dict[str, str], auth: str) -> requests.Response:
    body = raw if raw is not None else json.dumps(payload)
    return requests.post(url, data=body.encode(), timeout=20,
                         headers={**headers, "Content-Type": "application/json", "Authorization": f"Bearer {auth}"})


@FUZZ
@given(payload=lead_payloads, raw=st.none() | st.text(max_size=80) | st.integers(1, 40_000).map(deep_json),
       headers=HEADERS)
def test_any_lead_capture_gets_an_answer_never_a_server_error(web, payload, raw, headers):
    assert_no_5xx(json_post(f"{web}/leads", payload, raw, headers, API_TOKEN))


@FUZZ
@given(payload=json_values | st.fixed_dictionaries({"phone": phones | json_values}),
       raw=st.none() | st.integers(1, 40_000).map(deep_json), headers=HEADERS)
def test_any_erasure_request_gets_an_answer_never_a_server_error(web, payload, raw, headers):
    if isinstance(payload, dict) and isinstance(payload.get("phone"), str) and "720555" in payload["phone"]:
        payload["phone"] = "+13035550199"  # never erase a number another test is talking from
    assert_no_5xx(json_post(f"{web}/privacy/erase", payload, raw, headers, API_TOKEN))


@FUZZ
@given(since=st.none() | instants, until=st.none() | instants, query=QUERY, headers=HEADERS)
def test_any_stats_query_gets_an_answer_never_a_server_error(web, since, until, query, headers):
    params = {**query, **({"since": since} if since is not None else {}), **({"until": until} if until is not None else {})}
    answer = requests.get(f"{web}/stats", params=params, timeout=20,
                          headers={**headers, "Authorization": f"Bearer {STATS_TOKEN}"})
    assert_no_5xx(answer)


invitees = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "uri": st.text(max_size=40) | json_values, "email": st.text(max_size=30) | json_values,
    "cancel_url": st.text(max_size=30), "rescheduled": json_values, "text_reminder_number": phones | json_values,
    "tracking": json_values | st.fixed_dictionaries({"utm_content": st.one_of(
        st.integers(10**10, 10**30).map(lambda n: f"lead-{n}"), st.text(max_size=20), json_values)}),
    "scheduled_event": json_values | st.fixed_dictionaries({"start_time": instants | json_values}),
    "questions_and_answers": json_values | st.lists(st.fixed_dictionaries({"answer": phones | json_values}),
                                                    max_size=3)}))


@FUZZ
@given(event=st.sampled_from(["invitee.created", "invitee.canceled"]) | st.text(max_size=20) | json_values,
       invitee=invitees, raw=st.none() | st.integers(1, 40_000).map(deep_json), signature=st.none() | header_text,
       headers=HEADERS)
def test_any_calendly_delivery_gets_an_answer_never_a_server_error(web, event, invitee, raw, signature, headers):
    body = (raw if raw is not None else json.dumps({"event": event, "payload": invitee})).encode()
    if signature is None:  # a valid signature, so the fuzz reaches the payload
        stamp = str(int(time.time()))
        signature = f"t={stamp},v1=" + hmac.new(CALENDLY_KEY.encode(), stamp.encode() + b"." + body,
                                                hashlib.sha256).hexdigest()
    answer = requests.post(f"{web}/webhooks/calendly", data=body, timeout=20, headers={
        **headers, "Content-Type": "application/json", "Calendly-Webhook-Signature": signature})
    assert_no_5xx(answer)


# --- the dashboard ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(web, redis_conn) -> Dashboard:
    clear_login_failures(redis_conn)
    return Dashboard(web)


segments = st.one_of(huge_ints.map(str), st.text(max_size=20).map(lambda t: quote(t, safe="")))


@FUZZ
@given(query=QUERY | st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["open", "all", "qualified"]) | st.text(max_size=20), "owner": st.text(max_size=20),
    "page": numbers_as_text, "since": instants, "until": instants}), lead=segments, headers=HEADERS)
def test_any_dashboard_page_gets_an_answer_never_a_server_error(dashboard, fuzz_lead, query, lead, headers):
    for path in ("/dashboard", "/dashboard/export.csv", f"/dashboard/leads/{lead}", f"/dashboard/leads/{fuzz_lead}",
                 f"/dashboard/{lead}"):
        assert_no_5xx(dashboard.http.get(f"{dashboard.web}{path}", params=query, headers=headers, timeout=20))


@FUZZ
@given(action=st.sampled_from(["booked", "won", "lost", "claim", "take-over", "hand-back", "reply", "note",
                               "drafts/{draft}/approve"]),
       lead=st.none() | segments, draft=segments,
       form=st.fixed_dictionaries({}, optional={
           "reason": st.sampled_from(["price", "other"]) | st.text(max_size=20), "rep": st.sampled_from(["Dana"])
           | st.text(max_size=20), "body": st.text(max_size=400), "text": st.text(max_size=400),
           "nonce": st.text(max_size=30)}),
       headers=HEADERS)
def test_any_dashboard_action_gets_an_answer_never_a_server_error(dashboard, fuzz_lead, action, lead, draft, form,
                                                                  headers):
    path = f"/dashboard/leads/{fuzz_lead if lead is None else lead}/{action.format(draft=draft)}"
    answer = dashboard.http.post(f"{dashboard.web}{path}", data={**form, "csrf_token": dashboard.token},
                                 headers={k: v for k, v in headers.items() if k != "Cookie"}, timeout=20)
    assert_no_5xx(answer)


@FUZZ
@given(username=st.just("owner") | st.text(max_size=40), password=st.just(DASHBOARD_PASSWORD) | st.text(max_size=40),
       token=st.none() | st.text(max_size=40),
       next_url=st.none() | st.text(max_size=40) | st.sampled_from(["/dashboard/%0D%0AX", "/dashboard\r\nX",
                                                                    "//evil.example", "/dashboard/leads/1"]),
       headers=HEADERS)
def test_any_login_attempt_gets_an_answer_never_a_server_error(web, redis_conn, username, password, token, next_url,
                                                               headers):
    http = requests.Session()
    real = csrf_token(http, f"{web}/dashboard/login")
    try:
        answer = http.post(f"{web}/dashboard/login", params={"next": next_url} if next_url is not None else {},
                           data={"username": username, "password": password,
                                 "csrf_token": real if token is None else token},
                           headers={k: v for k, v in headers.items() if k != "Cookie"}, timeout=20,
                           allow_redirects=False)
    finally:
        clear_login_failures(redis_conn)
    assert_no_5xx(answer)
    if answer.is_redirect:
        target = answer.headers["Location"]
        assert not any(ord(c) < 32 for c in target) and not target.startswith("//"), target


@FUZZ
@given(query=QUERY, headers=HEADERS)
def test_metrics_and_health_answer_any_query(web, query, headers):
    for path in ("/metrics", "/healthz"):
        assert_no_5xx(requests.get(f"{web}{path}", params=query, headers=headers, timeout=20))


# --- and afterwards -----------------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=300))
def test_parsers_and_keywords_never_raise(text):
    classify(text)
    for question in PLAYBOOK.questions:
        parsed = parse_answer(question, text)
        assert parsed.ok or parsed.hint


def test_after_the_fuzz_a_normal_conversation_is_answered_and_no_fuzzed_message_was_dead_lettered(
        prospect, sessions, sandbox, redis_conn):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    for n, answer in enumerate(QUALIFYING_ANSWERS, start=1):
        p.say(answer)
        p.wait_for_replies(2 + n, timeout=60)  # the worker may still be working off the fuzzed messages
    assert "calendly.com" in p.received()[-1]["body"]
    senders = list(FUZZ_NUMBERS)
    with sessions() as s:
        wait_for(lambda: not s.scalar(select(Message.id).where(
            Message.from_address.in_(senders), Message.direction == "inbound", Message.processed_at.is_(None))
            .limit(1)) or s.rollback(), timeout=120, interval=0.5, what="every fuzzed message processed")
        dead = s.scalars(select(Message.body).where(Message.from_address.in_(senders),
                                                    Message.status == DEAD_LETTERED)).all()
    assert dead == [], f"fuzzed messages whose turn crashed: {dead[:5]}"
    # The fuzz may have sent STOP from the rep's phone: the rep is opted back in for the tests after this one.
    Prospect(sandbox, REP_PHONE).say("START")
    with sessions() as s:
        wait_for(lambda: not is_suppressed(s, business_id=1, address=REP_PHONE) or s.rollback(), what="the rep opted back in")
