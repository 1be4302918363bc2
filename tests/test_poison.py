"""A message whose turn always fails never silences its sender: it is dead-lettered, later messages flow,
and a STOP behind it takes effect within seconds.

The failing message is real, not mocked: a database trigger (the test's fault injection, like the TCP proxy
in ``test_faults``) refuses to mark an inbound message whose body starts with ``poison-`` processed, unless it
is being dead-lettered. On Postgres, a body starting with ``flaky-`` fails the same way with SQLSTATE 40001
(serialization failure), which the worker must treat as transient: retried, then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from twilio.base.exceptions import TwilioRestException

from bot.conversation.failures import is_transient
from store.models import Activity, Message
from store.suppression import is_suppressed
from tests.conftest import (
    QUALIFYING_ANSWERS,
    REP_PHONE,
    STATS_TOKEN,
    Prospect,
    Stack,
    lead_of,
    make_playbook,
    messages_to,
    wait_for,
)
from tests.test_rep_routing import rep_says

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS poison_turn BEFORE UPDATE OF processed_at ON messages
WHEN NEW.processed_at IS NOT NULL AND OLD.processed_at IS NULL AND OLD.body LIKE 'poison-%'
     AND NEW.status IS NOT 'dead_lettered'
BEGIN SELECT RAISE(ABORT, 'poison message'); END
"""
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION poison_turn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.processed_at IS NOT NULL AND OLD.processed_at IS NULL
     AND NEW.status IS DISTINCT FROM 'dead_lettered' THEN
    IF OLD.body LIKE 'poison-%' THEN RAISE EXCEPTION 'poison message' USING ERRCODE = '23514'; END IF;
    IF OLD.body LIKE 'flaky-%' THEN RAISE EXCEPTION 'flaky dependency' USING ERRCODE = '40001'; END IF;
  END IF;
  RETURN NEW;
END $$
"""


def install_poison(sessions: Any) -> None:
    with sessions.begin() as s:
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text(SQLITE_TRIGGER))
        else:
            s.execute(text(POSTGRES_FUNCTION))
            s.execute(text("DROP TRIGGER IF EXISTS poison_turn ON messages"))
            s.execute(text("CREATE TRIGGER poison_turn BEFORE UPDATE ON messages FOR EACH ROW "
                           "EXECUTE FUNCTION poison_turn()"))


def remove_poison(sessions: Any) -> None:
    with sessions.begin() as s:
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("DROP TRIGGER IF EXISTS poison_turn"))
        else:
            s.execute(text("DROP TRIGGER IF EXISTS poison_turn ON messages"))


@pytest.fixture
def poison(sessions) -> Iterator[None]:
    install_poison(sessions)
    yield
    remove_poison(sessions)


def inbound(sessions: Any, address: str, body: str) -> Message:
    with sessions() as s:
        return s.scalars(select(Message).where(Message.from_address == address, Message.body == body)).one()


def test_a_prospect_message_that_always_fails_is_dead_lettered_at_once_and_the_next_is_answered(
        poison, prospect, sessions, web, worker):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    p.say("poison-x")
    p.say(QUALIFYING_ANSWERS[0])
    # Well inside RQ's first two retry delays (2 s + 10 s): a retried poison would still hold the answer back.
    replies = p.wait_for_replies(3, timeout=8)
    assert replies[2].startswith("How soon"), replies

    stuck = inbound(sessions, p.address, "poison-x")
    assert (stuck.status, stuck.attempts) == ("dead_lettered", 1)
    assert stuck.processed_at is not None and "IntegrityError" in stuck.error_message
    lead = lead_of(sessions, p.number)
    with sessions() as s:
        entry = s.scalars(select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "dead_letter")).one()
    assert entry.data["message_id"] == stuck.id and entry.data["error"] == "IntegrityError"

    stats = requests.get(f"{web}/stats", headers={"Authorization": f"Bearer {STATS_TOKEN}"}, timeout=10).json()
    assert stats["dead_letters"] >= 1
    metrics = requests.get(f"{web}/metrics", timeout=10).text
    assert 'leadline_messages{direction="inbound",status="dead_lettered"}' in metrics


def test_a_rep_message_that_always_fails_is_dead_lettered_and_the_reps_next_command_is_answered(
        poison, sandbox, sessions, worker):
    before = len(messages_to(sandbox, REP_PHONE))
    Prospect(sandbox, REP_PHONE).say("poison-rep")
    assert rep_says(sandbox, "CLAIM 424242").startswith("No lead #424242.")
    bodies = [m["body"] for m in messages_to(sandbox, REP_PHONE)[before:]]
    assert len(bodies) == 1, bodies  # the poisoned message's usage reply was never committed, so never sent
    stuck = inbound(sessions, REP_PHONE, "poison-rep")
    assert stuck.status == "dead_lettered" and stuck.lead_id is None


def test_a_rep_command_with_a_huge_lead_id_is_answered_and_the_reps_stop_still_applies(sandbox, sessions, worker):
    assert rep_says(sandbox, "CLAIM 99999999999999999999").startswith("No lead #999999999999.")
    assert rep_says(sandbox, "YES 99999999999999999999").startswith("No lead #999999999999.")
    rep = Prospect(sandbox, REP_PHONE)
    try:
        rep.say("STOP")
        with sessions() as s:
            wait_for(lambda: is_suppressed(s, business_id=1, address=REP_PHONE) or s.rollback(), timeout=10,
                     what="the rep's STOP")
    finally:
        rep.say("START")
        with sessions() as s:
            wait_for(lambda: not is_suppressed(s, business_id=1, address=REP_PHONE) or s.rollback(), timeout=10,
                     what="the rep's START")


@pytest.fixture
def flaky_stack(tmp_path, database_url, redis_url, sessions) -> Iterator[Stack]:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's triggers can only raise constraint errors; the transient case runs on Postgres")
    install_poison(sessions)
    stack = Stack(tmp_path, database_url=database_url, redis_url=redis_url, playbook=make_playbook(tmp_path),
                  queue_name="flaky", turn_max_attempts=3)
    yield stack
    stack.close()
    remove_poison(sessions)


def test_a_stop_behind_a_message_whose_turn_keeps_failing_takes_effect_within_seconds(flaky_stack, phone):
    stack = flaky_stack
    p = Prospect(stack.sandbox, phone())
    p.say("hi")
    p.wait_for_replies(2)
    p.say("flaky-1")
    p.say("STOP")
    with stack.sessions() as s:
        wait_for(lambda: is_suppressed(s, business_id=1, address=p.number) or s.rollback(), timeout=6,
                 what="the STOP applied ahead of the failing message")
    flaky = inbound(stack.sessions, p.address, "flaky-1")
    assert flaky.processed_at is None, "a transient failure is retried, not dead-lettered at once"
    assert lead_of(stack.sessions, p.number).status == "opted_out"
    # RQ retries after 2 s and 10 s; the third failure uses up TURN_MAX_ATTEMPTS=3 and dead-letters it.
    wait_for(lambda: inbound(stack.sessions, p.address, "flaky-1").status == "dead_lettered", timeout=30,
             interval=0.5, what="the flaky message dead-lettered after its attempts")
    flaky = inbound(stack.sessions, p.address, "flaky-1")
    assert flaky.attempts == 3 and "OperationalError" in flaky.error_message
    assert len(p.received()) == 2, "nothing is sent after STOP"


def test_only_an_unavailable_dependency_counts_as_transient():
    assert is_transient(OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert is_transient(TwilioRestException(503, "https://api.twilio.com", "Service Unavailable"))
    assert is_transient(TwilioRestException(429, "https://api.twilio.com", "Too Many Requests"))
    try:
        try:
            raise ConnectionRefusedError("redis away")
        except ConnectionRefusedError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped), "the cause chain is followed"
    assert not is_transient(IntegrityError("UPDATE messages", {}, Exception("poison message")))
    assert not is_transient(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert not is_transient(TwilioRestException(400, "https://api.twilio.com", "Invalid 'To' Phone Number"))
    assert not is_transient(KeyError("question_index"))


def test_a_failed_turn_applies_the_stops_behind_it_then_is_retried_or_set_aside_by_its_cause(settings, phone):
    """The decision itself, on any database: a transient failure is retried (its STOPs applied first), any other
    failure dead-letters the message. The messages are stored an hour ahead so no running reconciler takes them."""
    from datetime import timedelta

    from bot.conversation.dead_letters import turn_failed
    from jobs.process import build_runtime
    from store.inbound import store_inbound
    from store.models import utcnow

    rt = build_runtime(settings)
    number = phone()
    later = utcnow() + timedelta(hours=1)
    ids: list[int] = []
    try:
        with rt.sessions.begin() as s:
            ids += [store_inbound(s, business_id=1, from_address=number, to_address="+15005550006", message_sid=f"SM{n:032x}",
                                 body=body, profile_name=None, media=None, received_at=later)
                   for n, body in ((int(number[1:]) * 10 + 1, "hello there"), (int(number[1:]) * 10 + 2, "Stop."),
                                   (int(number[1:]) * 10 + 3, "2"))]
        away = OperationalError("UPDATE messages", {}, Exception("server closed the connection unexpectedly"))
        assert turn_failed(rt, sender=number, message_id=ids[0], exc=away) is False
        with rt.sessions() as s:
            assert is_suppressed(s, business_id=1, address=number), "the STOP behind the failing message is applied at once"
            first, stop, answer = (s.get(Message, i) for i in ids)
            assert (first.attempts, first.processed_at) == (1, None)
            assert stop.processed_at is not None and answer.processed_at is None  # only the STOP jumps the line
        assert turn_failed(rt, sender=number, message_id=ids[0], exc=KeyError("question_index")) is True
        with rt.sessions() as s:
            first = s.get(Message, ids[0])
            assert (first.status, first.attempts, first.error_message) == ("dead_lettered", 2,
                                                                            "KeyError: 'question_index'")
    finally:
        with rt.sessions.begin() as s:  # leave nothing pending for the suite's worker
            for message_id in ids:
                s.get(Message, message_id).processed_at = utcnow()
        rt.close()
