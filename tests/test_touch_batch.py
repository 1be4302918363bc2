"""A batch of touches due in the same second (``jobs.touches.run_touches``), run in process on a database and
queue of its own against the sandbox: each touch goes once, a STOP that lands after the batch is decided still
wins, a batch run again after its worker stopped sends what it had queued, and nothing goes before its time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from sqlalchemy import select

from cadence.batch import prepare_batch
from cadence.enrollment import enroll
from jobs import process as runtimes
from jobs.process import build_runtime
from jobs.touches import run_touches
from runtime import Runtime
from store.consent import opt_out
from store.models import Activity, Lead, Message, Touch, utcnow
from tests.conftest import fresh_database, messages_to, stack_settings
from tests.test_cadence import redis_db

ZONES = ["America/Denver", "America/New_York", "Europe/London", "Asia/Calcutta", "Asia/Tokyo", "Australia/Sydney",
         "Pacific/Honolulu", "America/Los_Angeles"]


def daytime_zone() -> str:
    """A time zone where it is daytime now (touches there are outside quiet hours)."""
    now = datetime.now(timezone.utc)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


@contextmanager
def job_runtime(tmp: Path, *, redis_url: str, redis_db_number: int, sandbox_url: str, web_port: int, playbook: Path,
                queue_name: str) -> Iterator[Runtime]:
    """A runtime on a database and Redis database of its own, installed as the one this process's jobs use
    (``jobs.process.current``) while the block runs, so a job runs in process as a worker would run it."""
    url = redis_db(redis_url, redis_db_number)
    Redis.from_url(url).flushdb()
    rt = build_runtime(stack_settings(database_url=fresh_database(tmp, f"_{queue_name}"), redis_url=url,
                                      sandbox_url=sandbox_url, web_port=web_port, playbook=playbook,
                                      queue_name=queue_name))
    previous = runtimes._current
    runtimes.install(rt)
    try:
        yield rt
    finally:
        runtimes._current = previous
        rt.close()


@pytest.fixture(scope="module")
def rt(tmp_path_factory, redis_url, sandbox, web_port, settings):
    with job_runtime(tmp_path_factory.mktemp("touch-batch"), redis_url=redis_url, redis_db_number=6,
                     sandbox_url=sandbox.url, web_port=web_port, playbook=settings.playbook,
                     queue_name="touch-batch-tests") as rt:
        yield rt


_serial = iter(range(1000, 9999))


def due_touches(rt, count: int) -> tuple[list[str], list[int]]:
    """``count`` new SMS leads, captured a day and a bit ago, so their day-1 touch is due now."""
    phones = [f"+1720556{next(_serial):04d}" for _ in range(count)]
    zone = daytime_zone()
    with rt.sessions.begin() as s:
        leads = [Lead(business_id=1, phone=p, channel="sms", source="test", status="contacted", answers={}, timezone=zone,
                      created_at=utcnow() - timedelta(days=1, seconds=5)) for p in phones]
        s.add_all(leads)
        s.flush()
        ids = [i for lead in leads for i in enroll(s, rt, lead, why="test")]
        touches = s.scalars(select(Touch).where(Touch.id.in_(ids), Touch.step == "day1")).all()
        assert len(touches) == count and all(t.next_attempt_at <= utcnow() for t in touches)
    return phones, [t.id for t in touches]


def test_a_batch_sends_each_touch_once_and_records_it(rt, sandbox):
    phones, ids = due_touches(rt, 40)
    assert run_touches(ids) == {"sent": 40}
    assert run_touches(ids) == {"done": 40}  # RQ runs a job at least once
    for phone in phones:
        sent = messages_to(sandbox, phone)
        assert len(sent) == 1 and "Still need help with your roof?" in sent[0]["body"]
    with rt.sessions() as s:
        touches = s.scalars(select(Touch).where(Touch.id.in_(ids))).all()
        assert {t.result for t in touches} == {"sent"}
        rows = s.scalars(select(Message).where(Message.id.in_([t.message_id for t in touches]))).all()
        assert all(m.outbox_state == "sent" and m.twilio_sid.startswith("SM") and m.sent_at >= m.claimed_at
                   for m in rows)
        leads = s.scalars(select(Lead).where(Lead.phone.in_(phones))).all()
        assert all(lead.first_response_at is not None and lead.last_activity_at >= lead.first_response_at
                   for lead in leads)
        timeline = s.scalars(select(Activity).where(Activity.lead_id.in_([lead.id for lead in leads]),
                                                    Activity.kind == "message")).all()
        assert sorted(a.data["message_id"] for a in timeline) == sorted(m.id for m in rows)


def test_a_stop_after_the_batch_is_decided_wins_and_a_rerun_sends_the_rest_once(rt, sandbox):
    """The worker decided the batch (its sends queued in the outbox) and stopped before any Twilio call; a STOP
    came in meanwhile. RQ runs the batch again: the others go once each, the opted-out number gets nothing."""
    phones, ids = due_touches(rt, 6)
    outcomes, sends = prepare_batch(rt, ids, utcnow())
    assert len(sends) == 6 and {o.value for o in outcomes.values()} == {"sent"}
    with rt.sessions.begin() as s:
        opt_out(s, business_id=1, phone=phones[0], keyword="STOP")
    assert run_touches(ids) == {"sent": 5, "done": 1}
    assert messages_to(sandbox, phones[0]) == []
    assert [len(messages_to(sandbox, p)) for p in phones[1:]] == [1] * 5
    with rt.sessions() as s:
        stopped = s.scalars(select(Touch).join(Lead).where(Lead.phone == phones[0], Touch.step == "day1")).one()
        assert stopped.result == "cancelled"
        assert s.get(Message, stopped.message_id).outbox_state == "cancelled"


def test_touches_due_later_in_the_second_wait_for_their_time_and_later_ones_are_queued_again(rt):
    _, ids = due_touches(rt, 4)
    soon, later = utcnow() + timedelta(seconds=0.8), utcnow() + timedelta(seconds=60)
    with rt.sessions.begin() as s:
        for touch in s.scalars(select(Touch).where(Touch.id.in_(ids[:3]))):
            touch.next_attempt_at = soon
        s.get(Touch, ids[3]).next_attempt_at = later
    assert run_touches(ids) == {"sent": 3, "not_due": 1}
    with rt.sessions() as s:
        claimed = s.scalars(select(Message.claimed_at).join(Touch, Touch.message_id == Message.id)
                            .where(Touch.id.in_(ids[:3]))).all()
        assert len(claimed) == 3 and min(claimed) >= soon  # never early
        waiting = s.get(Touch, ids[3])
        assert (waiting.message_id, waiting.job_id) == (None, f"touch-{ids[3]}")
    assert rt.queue.fetch_job(f"touch-{ids[3]}").get_status() == "scheduled"
