"""Bad input, fuzzed with hypothesis: the webhook and the parsers never crash, never answer 5xx, and store
any Unicode body exactly. ``FUZZ_EXAMPLES`` sets the budget (``make test``: 150; the benchmark run: 10,000)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from app import create_app
from bot.keywords import classify
from bot.sandbox import new_sid, serve_in_thread
from graph.parsing import parse_answer
from graph.playbook import load_playbook
from store.models import Message
from tests.conftest import ROOT, SMS_FROM, stack_settings
from tests.test_webhook import post_signed

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PLAYBOOK = load_playbook(ROOT / "playbook.yaml")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


@pytest.fixture(scope="module")
def unworked(settings_for_fuzz) -> Any:
    """The web app on the test database with a queue no worker takes: only the webhook is under test."""
    app = create_app(settings_for_fuzz)
    server, url = serve_in_thread(app)
    yield url, app.extensions["leadline"]
    app.extensions["leadline"].queue.empty()
    server.shutdown()
    app.extensions["leadline"].close()


@pytest.fixture(scope="module")
def settings_for_fuzz(database_url, redis_url, sandbox) -> Any:
    return stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url=sandbox.url, web_port=0,
                          playbook=ROOT / "playbook.yaml", queue_name="fuzz-unworked")


@FUZZ
@given(body=st.text(max_size=1600))
def test_any_unicode_body_is_acknowledged_and_stored_exactly(unworked, body):
    url, rt = unworked
    sid = new_sid()
    form = {"MessageSid": sid, "AccountSid": "AC" + "a1" * 16, "From": "+17205559999", "To": SMS_FROM, "Body": body}
    answer = post_signed(f"{url}/twilio/messages", form, signed_url=f"{rt.settings.public_base_url}/twilio/messages")
    assert answer.status_code == 200, answer.text
    with rt.sessions() as s:
        assert s.scalar(select(Message.body).where(Message.twilio_sid == sid)) == body


@FUZZ
@given(form=st.dictionaries(st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                                             "ProfileName", "AccountSid", "SmsStatus", "Extra"]),
                            st.text(max_size=80), max_size=10))
def test_any_signed_form_gets_an_answer_never_a_server_error(unworked, form):
    url, rt = unworked
    answer = post_signed(f"{url}/twilio/messages", form, signed_url=f"{rt.settings.public_base_url}/twilio/messages")
    assert answer.status_code in (200, 422), (answer.status_code, answer.text)


@FUZZ
@given(text=st.text(max_size=300))
def test_parsers_and_keywords_never_raise(text):
    classify(text)
    for question in PLAYBOOK.questions:
        parsed = parse_answer(question, text)
        assert parsed.ok or parsed.hint
