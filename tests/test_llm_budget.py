"""One model budget per message, an output cap every server honours, and no retry of a timed-out call: the
failures a real weak model (SmolLM2-135M on llama.cpp's server) showed, reproduced through the scripted server.

The real langchain-openai client calls the scripted server over loopback HTTP; the calls are recorded in a
database of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.llm import LanguageModel
from bot.sandbox import serve_in_thread
from graph.playbook import load_playbook
from settings import Settings
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from store.models import LlmCall
from tests.fake_openai import FakeOpenAI, extraction, runaway, said, server_error, slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Any:
    fake = FakeOpenAI()
    http, url = serve_in_thread(fake.app)
    fake.url = url
    yield fake
    http.shutdown()


def model(server: Any, tmp_path: Path, **overrides: Any) -> tuple[LanguageModel, Any]:
    """A LanguageModel on the scripted server, recording its calls in a fresh SQLite database."""
    url = f"sqlite:///{tmp_path}/llm.db"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    settings = Settings(_env_file=None, twilio_account_sid="ACtest", twilio_auth_token="test", database_url=url,
                        openai_api_key="sk-test", openai_base_url=f"{server.url}/v1", llm_model="tiny",
                        **overrides)
    server.requests.clear()
    return LanguageModel(settings, load_playbook(ROOT / "playbook.yaml"), sessions, business_id=1), sessions


def outcomes(sessions: Any) -> list[tuple[str, int]]:
    with sessions() as s:
        return [(c.outcome, c.latency_ms) for c in s.scalars(select(LlmCall).order_by(LlmCall.id))]


def test_the_output_cap_reaches_a_server_that_reads_only_max_tokens(server, tmp_path):
    """langchain-openai sends max_completion_tokens, which llama.cpp's server ignores: a weak model then wrote
    3,814 tokens of junk into one JSON string (~130 s). With max_tokens in the body too, the server stops early."""
    llm, sessions = model(server, tmp_path, llm_max_tokens=40, llm_timeout_s=5, llm_budget_s=8)
    server.respond = lambda body: runaway(tokens=3814, seconds=130)
    assert llm.understand("uh the roof", pending="urgency", lead_id=None) is None
    body = server.requests[-1]
    assert (body["max_tokens"], body["max_completion_tokens"]) == (40, 40)
    assert [o for o, _ in outcomes(sessions)] == ["invalid"]  # cut short, so not valid JSON: deterministic path


def test_openai_itself_gets_only_max_completion_tokens(tmp_path):
    """OpenAI's API refuses max_tokens beside max_completion_tokens; no request is made here."""
    url = f"sqlite:///{tmp_path}/llm.db"
    settings = Settings(_env_file=None, twilio_account_sid="ACtest", twilio_auth_token="test", database_url=url,
                        openai_api_key="sk-test", llm_max_tokens=40)
    llm = LanguageModel(settings, load_playbook(ROOT / "playbook.yaml"), make_sessionmaker(make_engine(url)),
                        business_id=1)
    assert llm.chat.max_tokens == 40 and not llm.chat.extra_body


def test_a_timed_out_call_is_not_retried(server, tmp_path):
    """A retry after a timeout doubled the wait while the server went on generating the first answer."""
    llm, sessions = model(server, tmp_path, llm_timeout_s=1, llm_budget_s=6, llm_max_retries=3)
    server.respond = lambda body: slow(3, extraction())
    assert llm.understand("the roof is leaking", pending=None, lead_id=None) is None
    assert len(server.requests) == 1
    assert [o for o, _ in outcomes(sessions)] == ["timeout"]


def test_retries_stop_at_the_messages_budget(server, tmp_path):
    """Calls that fail without an answer are retried, but every call of a message shares one deadline."""
    llm, sessions = model(server, tmp_path, llm_timeout_s=5, llm_budget_s=2, llm_max_retries=5)
    server.respond = lambda body: slow(0.8, server_error())
    assert llm.understand("the roof is leaking", pending=None, lead_id=None) is None
    assert 2 <= len(server.requests) <= 3
    [(outcome, latency_ms)] = outcomes(sessions)
    assert outcome == "over_budget" and latency_ms <= 2000 + 500


def test_a_slow_answer_is_cut_at_what_the_budget_has_left(server, tmp_path):
    llm, sessions = model(server, tmp_path, llm_timeout_s=8, llm_budget_s=1.5, llm_max_retries=0)
    server.respond = lambda body: slow(4, extraction(urgency=said("now", "asap")))
    assert llm.understand("asap please", pending=None, lead_id=None) is None
    [(outcome, latency_ms)] = outcomes(sessions)
    assert outcome == "timeout" and latency_ms < 4000


def test_a_good_answer_within_the_budget_is_used(server, tmp_path):
    llm, sessions = model(server, tmp_path, llm_timeout_s=2, llm_budget_s=4, llm_max_retries=1)
    attempts = iter([server_error(), extraction(urgency=said("now", "asap"), intent="answer")])
    server.respond = lambda body: next(attempts)
    proposal = llm.understand("asap please", pending=None, lead_id=None)
    assert proposal is not None and proposal["answers"] == {"urgency": {"value": "now", "quote": "asap"}}
    assert len(server.requests) == 2 and [o for o, _ in outcomes(sessions)] == ["ok"]
