"""The database is the truth: work Redis lost is found again, and a half-done send is never repeated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.sandbox import new_sid
from jobs.process import build_runtime
from jobs.reconcile import reconcile
from store import outbox, sends
from store.inbound import store_inbound
from store.models import Message, utcnow
from tests.conftest import SMS_FROM, Prospect


@pytest.fixture(scope="module")
def runtime(settings):
    rt = build_runtime(settings)
    yield rt
    rt.close()


def test_a_message_stored_while_redis_lost_its_job_is_still_answered(runtime, worker, sandbox, phone):
    """The webhook stored the message but its job never reached the queue (Redis down, or flushed)."""
    number = phone()
    with runtime.sessions.begin() as s:
        store_inbound(s, business_id=1, from_address=number, to_address=SMS_FROM, message_sid=new_sid(), body="hi",
                      profile_name=None, media=None, received_at=utcnow())
    replies = Prospect(sandbox, number).wait_for_replies(2, timeout=20)  # the worker's reconciler finds it
    assert replies[0].startswith("Hi! Thanks for reaching out")


def claimed_long_ago(runtime, number: str, body: str) -> int:
    with runtime.sessions.begin() as s:
        row = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=number, body=body,
                                  dedupe_key=f"stale:{number}", from_address=SMS_FROM)
        assert sends.claim(s, message_id=row)
        s.get(Message, row).claimed_at = utcnow() - timedelta(hours=1)
    return row


def test_a_send_claimed_by_a_dead_worker_before_twilio_had_it_goes_out_once(runtime, sandbox, phone):
    number = phone()
    row = claimed_long_ago(runtime, number, "half-sent")
    counts = reconcile(runtime)
    assert counts["released"] >= 1
    p = Prospect(sandbox, number)
    assert p.wait_for_replies(1, timeout=20) == ["half-sent"]
    reconcile(runtime)
    p.assert_no_more(1)
    with runtime.sessions() as s:
        assert s.get(Message, row).outbox_state == "sent"


def test_a_send_claimed_by_a_dead_worker_after_twilio_had_it_is_recorded_not_repeated(runtime, sandbox, phone):
    number = phone()
    row = claimed_long_ago(runtime, number, "already there")
    at_twilio = runtime.twilio.client.messages.create(to=number, from_=SMS_FROM, body="already there")  # the lost answer
    counts = reconcile(runtime)
    assert counts["found_sent"] >= 1
    with runtime.sessions() as s:
        assert (s.get(Message, row).outbox_state, s.get(Message, row).twilio_sid) == ("sent", at_twilio.sid)
    Prospect(sandbox, number).assert_no_more(1)


def test_sends_twilio_took_while_the_database_was_away_are_recorded_once_by_the_next_pass(runtime, phone):
    """The worker kept two accepted sends in Redis (its database writes failed); meanwhile one row was settled
    another way. The next pass records the other with its MessageSid and overwrites nothing."""
    from bot.delivery import unrecorded

    rows = []
    for n in range(2):
        with runtime.sessions.begin() as s:
            row = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=phone(), body=f"kept {n}",
                                      dedupe_key=f"kept:{new_sid()}", from_address=SMS_FROM)
            assert sends.claim(s, message_id=row)
        rows.append(row)
    kept = [sends.SentRecord(message_id=row, lead_id=None, kind="rep_alert", twilio_sid=new_sid(), status="queued",
                              from_address=SMS_FROM, sent_at=utcnow()) for row in rows]
    assert unrecorded.keep(runtime, kept)
    settled_sid = new_sid()
    with runtime.sessions.begin() as s:
        sends.mark_sent(s, message_id=rows[1], twilio_sid=settled_sid, status="delivered", from_address=None)
    reconcile(runtime)  # (the worker's own reconciler may get there first: the outcome is the same)
    with runtime.sessions() as s:
        assert (s.get(Message, rows[0]).outbox_state, s.get(Message, rows[0]).twilio_sid) == ("sent", kept[0].twilio_sid)
        assert (s.get(Message, rows[1]).twilio_sid, s.get(Message, rows[1]).status) == (settled_sid, "delivered")
    assert not runtime.redis.hexists(f"leadline:unrecorded:{runtime.settings.queue_name}", str(rows[0]))
    assert reconcile(runtime)["recorded"] == 0


def test_a_pending_send_whose_job_was_lost_goes_out_once(runtime, worker, sandbox, phone):
    number = phone()
    with runtime.sessions.begin() as s:
        outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=number, body="owed",
                            dedupe_key=f"owed:{number}",
                            from_address=SMS_FROM)
    p = Prospect(sandbox, number)
    assert p.wait_for_replies(1, timeout=20) == ["owed"]
    reconcile(runtime)
    reconcile(runtime)
    p.assert_no_more(1)


def test_a_conversation_waiting_in_a_backlog_is_not_queued_again_but_one_redis_lost_is(tmp_path, redis_url, sandbox,
                                                                                       web_port, settings, phone):
    """On a database and queue no worker serves: the message's job waits in Redis, as in a backlog."""
    from redis import Redis

    from jobs.enqueue import turns_job_id
    from tests.conftest import fresh_database, stack_settings
    from tests.test_cadence import redis_db

    url = redis_db(redis_url, 5)
    Redis.from_url(url).flushdb()
    rt = build_runtime(stack_settings(database_url=fresh_database(tmp_path, "_backlog"), redis_url=url,
                                      sandbox_url=sandbox.url, web_port=web_port, playbook=settings.playbook,
                                      queue_name="backlog-tests"))
    try:
        number = phone()
        with rt.sessions.begin() as s:
            message_id = store_inbound(s, business_id=1, from_address=number, to_address=SMS_FROM, message_sid=new_sid(),
                                       body="hi",
                                       profile_name=None, media=None, received_at=utcnow() - timedelta(minutes=1))
        rt.jobs.turns(message_id, number)
        assert reconcile(rt)["conversations"] == 0
        assert reconcile(rt)["conversations"] == 0
        assert rt.queue.count == 1
        rt.redis.flushdb()  # Redis restarted without persistence
        assert reconcile(rt)["conversations"] == 1
        assert rt.queue.fetch_job(turns_job_id(message_id)).args == [message_id]
        assert reconcile(rt)["conversations"] == 0
    finally:
        rt.close()
