"""Follow-up cadence end to end, on a stack of its own with compressed days (CADENCE_SECONDS_PER_DAY=2).

Quiet hours follow the lead's real local time, so each test picks a number whose time zone
is in daytime (or at night) right now.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import requests
from phonenumbers import timezone as phone_tz
from redis import Redis
from sqlalchemy import select

from cadence.clock import quiet_until
from graph.playbook import load_playbook
from graph.texts import placeholders_for, render
from store.models import Activity, Lead, Message, Touch
from tests.conftest import API_TOKEN, ROOT, WHATSAPP_FROM, Prospect, Stack, fresh_database, make_playbook, wait_for

SECONDS_PER_DAY = 2.0
STEPS = [("day1", 1), ("day3", 3), ("day7", 5), ("day14", 7), ("reactivation", 9)]
"""The example's steps and texts, on days short enough to watch a whole cadence (reactivation by name)."""
ZONES = [("America/Denver", "+1720555{:04d}"), ("America/New_York", "+1212555{:04d}"),
         ("America/Los_Angeles", "+1213555{:04d}"), ("Pacific/Honolulu", "+1808555{:04d}"),
         ("Europe/London", "+44207946{:04d}"), ("Asia/Calcutta", "+9198123{:05d}"),
         ("Australia/Sydney", "+6129123{:04d}"), ("Asia/Tokyo", "+8131234{:04d}")]
_serial = itertools.count(3000)
EXAMPLE_STEPS = load_playbook(ROOT / "playbook.yaml").cadence.steps


def number_where(local_hours: range) -> str:
    """A fresh valid number whose time zone's local hour is in ``local_hours`` right now."""
    now = datetime.now(timezone.utc)
    for zone, pattern in ZONES:
        if now.astimezone(ZoneInfo(zone)).hour in local_hours:
            for _ in range(50):
                number = pattern.format(next(_serial))
                parsed = phonenumbers.parse(number)
                if phonenumbers.is_valid_number(parsed) and phone_tz.time_zones_for_number(parsed) == (zone,):
                    return number
    pytest.fail(f"no test zone has a local hour in {local_hours} now")


def daytime_number() -> str:
    return number_where(range(9, 19))


def redis_db(url: str, db: int) -> str:
    """The same Redis server, another logical database (so this stack can be flushed alone)."""
    if url.startswith("unix://"):
        return url.split("?")[0] + f"?db={db}"
    head, _, _ = url.rpartition("/")
    return f"{head}/{db}"


@pytest.fixture(scope="module")
def cadence(tmp_path_factory, redis_url):
    tmp = tmp_path_factory.mktemp("cadence")
    steps = [{"id": step, "after": f"{days}d", "text": next(s.text for s in EXAMPLE_STEPS if s.id == step),
              **({"whatsapp_template": {"content_sid": "HX" + "0" * 31 + "1", "variables": {"1": "{name}"}}}
                 if step == "day1" else {})} for step, days in STEPS]
    url = redis_db(redis_url, 13)
    Redis.from_url(url).flushdb()
    stack = Stack(tmp, database_url=fresh_database(tmp, "_cadence"), redis_url=url,
                  playbook=make_playbook(tmp, steps=steps), queue_name="cadence-tests",
                  cadence_seconds_per_day=SECONDS_PER_DAY, stale_claim_after_s=3.0)
    yield stack
    stack.close()


def lead_for(stack: Stack, phone: str) -> Lead:
    with stack.sessions() as s:
        return s.scalars(select(Lead).where(Lead.phone == phone)).one()


def touches_of(stack: Stack, phone: str) -> list[Touch]:
    with stack.sessions() as s:
        return list(s.scalars(select(Touch).join(Lead).where(Lead.phone == phone).order_by(Touch.attempt_number)))


def expected_text(stack: Stack, lead: Lead, step: str) -> str:
    pb = stack.runtime.playbook
    texts = placeholders_for(pb, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}", answers={})
    return render(pb.step(step).text, **texts)


def test_silent_lead_gets_each_touch_on_its_day_then_goes_dormant_and_stale(cadence):
    p = Prospect(cadence.sandbox, daytime_number())
    p.say("hi, need a roofer")
    p.wait_for_replies(2)
    bodies = p.wait_for_replies(2 + len(STEPS), timeout=60)
    lead = lead_for(cadence, p.number)
    assert bodies[2:] == [expected_text(cadence, lead, step) for step, _ in STEPS]
    rows = wait_for(lambda: (r := touches_of(cadence, p.number)) and all(t.result == "delivered" for t in r) and r)
    with cadence.sessions() as s:
        enrolled_at = s.scalar(select(Activity.created_at).where(Activity.lead_id == lead.id,
                                                                  Activity.kind == "enrolled"))
        for touch, (step, days) in zip(rows, STEPS, strict=True):
            sent_at = s.get(Message, touch.message_id).sent_at
            assert touch.step == step and touch.message_type == "sms"
            on_its_day = lead.created_at + timedelta(seconds=days * SECONDS_PER_DAY)
            # The stall check that enrols the silent lead runs 1-2 s after its message (RQ schedules in whole
            # seconds): a step whose day passed before that is due at enrolment, the rest on their day.
            assert touch.due_at == on_its_day or (step == "day1" and on_its_day < touch.due_at <= enrolled_at)
            assert sent_at >= touch.due_at, f"{step} went early"
            assert sent_at - touch.due_at < timedelta(seconds=3), f"{step} went late: {sent_at - touch.due_at}"
    lead = lead_for(cadence, p.number)
    assert (lead.status, lead.stop_reason) == ("dormant", "stale")


def test_a_reply_cancels_the_rest(cadence):
    p = Prospect(cadence.sandbox, daytime_number())
    for n, text in enumerate(["hi", "3", "someday", "80203", "no"]):  # a nurture lead
        p.say(text)
        p.wait_for_replies(2 + n)
    assert p.received()[-1]["body"].startswith("Thanks! We'll keep in touch.")
    day1 = p.wait_for_replies(7, timeout=15)[-1]
    assert day1 == expected_text(cadence, lead_for(cadence, p.number), "day1")
    p.say("thanks, maybe in spring")
    p.wait_for_replies(8)
    p.assert_no_more(8, settle_s=6.0)  # past day3's and day7's times
    assert [t.result for t in touches_of(cadence, p.number)][1:] == ["cancelled"] * 4
    assert lead_for(cadence, p.number).stop_reason == "replied"


def test_stop_between_two_touches_cancels_the_rest(cadence):
    p = Prospect(cadence.sandbox, daytime_number())
    p.say("hello")
    p.wait_for_replies(3, timeout=15)  # greeting, question, day1
    p.say("STOP")
    p.assert_no_more(3, settle_s=6.0)
    lead = lead_for(cadence, p.number)
    assert (lead.status, lead.stop_reason) == ("opted_out", "opted_out")
    assert [t.result for t in touches_of(cadence, p.number)] == ["delivered"] + ["cancelled"] * 4


def test_stop_racing_a_touch_in_flight_wins(cadence):
    """Twilio refuses day1 once (503), so its send is in the outbox awaiting a retry when the STOP lands."""
    p = Prospect(cadence.sandbox, daytime_number())
    p.say("hi")
    p.wait_for_replies(2)
    requests.post(f"{cadence.sandbox.url}/sandbox/faults", data={"To": p.number, "Status": 503, "Code": 20503,
                                                                 "Count": 1}, timeout=5)

    def in_flight():
        with cadence.sessions() as s:
            row = s.scalars(select(Message).join(Touch, Touch.message_id == Message.id).join(Lead)
                            .where(Lead.phone == p.number)).first()
            return row is not None and row.outbox_state == "pending" and row.error_message and row

    wait_for(in_flight, timeout=15, what="day1 waiting for its retry")
    p.say("Stop")
    p.assert_no_more(2, settle_s=5.0)
    with cadence.sessions() as s:
        row = s.scalars(select(Message).join(Touch, Touch.message_id == Message.id).join(Lead)
                        .where(Lead.phone == p.number)).one()
        assert (row.outbox_state, row.twilio_sid) == ("cancelled", None)
    assert touches_of(cadence, p.number)[0].result == "cancelled"


def test_whatsapp_lead_outside_24_hours_gets_templates_or_skips_never_free_text(cadence):
    number = daytime_number()
    answer = requests.post(f"{cadence.url}/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10,
                           json={"event_id": f"wa-{number}", "source": "facebook_ad", "channel": "whatsapp",
                                 "phone": number, "name": "Ann"})
    assert answer.status_code == 201, answer.text
    address = f"whatsapp:{number}"
    rows = wait_for(lambda: (t := touches_of(cadence, number)) and all(x.result for x in t) and t, timeout=60,
                    what="every touch settled")
    assert [(t.step, t.result, t.message_type) for t in rows] == [
        ("day1", "delivered", "whatsapp_template"), ("day3", "skipped_no_template", None),
        ("day7", "skipped_no_template", None), ("day14", "skipped_no_template", None),
        ("reactivation", "skipped_no_template", None)]
    sent = requests.get(f"{cadence.sandbox.url}/sandbox/messages", params={"To": address}, timeout=5).json()
    assert [(m["content_sid"], m["content_variables"]) for m in sent] == [
        ("HX" + "0" * 32, '{"1": "Ann"}'), ("HX" + "0" * 31 + "1", '{"1": "Ann"}')]  # first touch, day1
    assert all(m["from"] == WHATSAPP_FROM for m in sent)
    assert lead_for(cadence, number).status == "dormant"


def test_whatsapp_lead_inside_24_hours_gets_free_text(cadence):
    p = Prospect(cadence.sandbox, daytime_number(), whatsapp=True, name="Bo")
    p.say("hola")
    p.wait_for_replies(3, timeout=15)
    day1 = p.received()[2]
    assert day1["content_sid"] is None
    assert day1["body"] == "Hi Bo, it's Summit Roofing. Still need help with your roof? Just reply here."
    assert touches_of(cadence, p.number)[0].message_type == "whatsapp_text"


def test_a_touch_due_in_the_leads_night_is_deferred_to_the_end_of_quiet_hours(cadence):
    p = Prospect(cadence.sandbox, number_where(range(0, 6)))
    p.say("hi")  # replies are not held: the lead just wrote
    p.wait_for_replies(2)
    day1 = wait_for(lambda: (t := touches_of(cadence, p.number)) and t[0].result == "skipped_quiet_hours" and t[0],
                    timeout=15, what="day1 deferred")
    zone = lead_for(cadence, p.number).timezone
    expected = quiet_until(day1.attempted_at, zone, cadence.runtime.playbook.cadence.quiet_hours)
    assert day1.next_attempt_at == expected
    assert day1.next_attempt_at.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00"
    p.assert_no_more(2)


def test_killing_the_worker_mid_send_and_flushing_redis_loses_and_duplicates_nothing(cadence):
    """The worker dies inside day1's Twilio call (Twilio still creates it) and Redis loses every job.

    Each step must still reach the lead exactly once: day1 is found at Twilio, not resent;
    the rest are rebuilt from the database. (Day1 may land after day3: Twilio took 3 s.)
    """
    p = Prospect(cadence.sandbox, daytime_number())
    faults = f"{cadence.sandbox.url}/sandbox/faults"
    p.say("hi")
    p.wait_for_replies(2, timeout=20)
    requests.post(faults, data={"To": p.number, "LatencyS": 3}, timeout=5)  # Twilio slow: the kill lands mid-call

    def day1_claimed():
        with cadence.sessions() as s:
            return s.scalar(select(Message.outbox_state).join(Touch, Touch.message_id == Message.id).join(Lead)
                            .where(Lead.phone == p.number)) == "claimed"

    wait_for(day1_claimed, timeout=15, what="day1 in the middle of its Twilio call")
    os.kill(cadence.worker.pid, signal.SIGKILL)
    cadence.worker.wait()
    Redis.from_url(cadence.settings.redis_url).flushdb()
    requests.post(faults, data={"To": p.number, "LatencyS": 0}, timeout=5)
    cadence.restart_worker()
    bodies = p.wait_for_replies(2 + len(STEPS), timeout=60)
    p.assert_no_more(2 + len(STEPS), settle_s=4.0)
    lead = lead_for(cadence, p.number)
    assert Counter(bodies[2:]) == Counter(expected_text(cadence, lead, step) for step, _ in STEPS)
    rows = wait_for(lambda: (t := touches_of(cadence, p.number)) and all(x.result == "delivered" for x in t) and t,
                    what="every touch delivered")
    assert len({t.message_id for t in rows}) == len(STEPS)
