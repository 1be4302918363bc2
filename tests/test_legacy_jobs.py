"""Jobs queued by a release before the jobs/ package (``cadence.jobs.*``) still run after an upgrade.

Each old dotted path is enqueued on a real Redis and run by RQ's own worker in burst mode, which finds the
function by that path exactly as a deployed worker would; the prospect then gets what the job owed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from cadence.enrollment import enroll
from store import outbox
from store.capture import capture_lead
from store.inbound import store_inbound
from store.models import Lead, Touch, utcnow
from tests.conftest import messages_to
from tests.test_touch_batch import daytime_zone, job_runtime

OLD_PATHS = ["cadence.jobs.process_conversation", "cadence.jobs.start_conversation", "cadence.jobs.send_message",
             "cadence.jobs.send_in_order", "cadence.jobs.run_touches", "cadence.jobs.run_touch",
             "cadence.jobs.check_stall", "cadence.jobs.write_crm_note"]
_serial = iter(range(1000, 9999))


@pytest.fixture(scope="module")
def rt(tmp_path_factory, redis_url, sandbox, web_port, settings):
    with job_runtime(tmp_path_factory.mktemp("legacy-jobs"), redis_url=redis_url, redis_db_number=7,
                     sandbox_url=sandbox.url, web_port=web_port, playbook=settings.playbook,
                     queue_name="legacy-job-tests") as rt:
        yield rt


def run_old_job(rt, path: str, *args):
    """Enqueue ``path`` as an earlier release did and run it with RQ's worker; returns the finished job."""
    job = rt.queue.enqueue(path, *args)
    SimpleWorker([rt.queue], connection=rt.redis, serializer=JSONSerializer).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string if job.latest_result() else path
    return job


def new_phone() -> str:
    return f"+1720557{next(_serial):04d}"


def test_every_old_path_still_imports():
    from rq.utils import import_attribute

    for path in OLD_PATHS:
        assert callable(import_attribute(path)), path


def test_an_old_conversation_job_answers_the_prospect(rt, sandbox):
    phone = new_phone()
    with rt.sessions.begin() as s:
        message_id = store_inbound(s, business_id=1, from_address=phone, to_address="+15005550006",
                                   message_sid=f"SM{phone[1:]}old",
                                   body="hi", profile_name=None, media=None, received_at=utcnow())
    assert run_old_job(rt, "cadence.jobs.process_conversation", message_id).return_value() == 1
    assert any("Summit Roofing" in m["body"] for m in messages_to(sandbox, phone))


def test_an_old_first_touch_job_texts_the_captured_lead(rt, sandbox):
    phone = new_phone()
    with rt.sessions.begin() as s:
        captured = capture_lead(s, business_id=1, playbook_version_id=None, event_id=f"legacy-{phone}", source="web_form",
                                received_at=utcnow(),
                                channel="sms", phone=phone, service_type=None, urgency=None, contact_method="sms",
                                name="Ann", email=None, timezone=daytime_zone())
    run_old_job(rt, "cadence.jobs.start_conversation", captured.lead_id, captured.capture_id)
    assert messages_to(sandbox, phone), "the first touch was not sent"


def test_old_send_jobs_send_their_rows_once_in_order(rt, sandbox):
    phone, other = new_phone(), new_phone()
    with rt.sessions.begin() as s:
        one = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=phone, body="first",
                                  dedupe_key=f"legacy:{phone}:1", from_address="+15005550006")
        two = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=phone, body="second",
                                  dedupe_key=f"legacy:{phone}:2", from_address="+15005550006")
        three = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=other, body="alone",
                                    dedupe_key=f"legacy:{other}:1", from_address="+15005550006")
    run_old_job(rt, "cadence.jobs.send_in_order", [one, two])
    run_old_job(rt, "cadence.jobs.send_message", three)
    run_old_job(rt, "cadence.jobs.send_message", three)  # at least once: a repeat sends nothing
    assert [m["body"] for m in messages_to(sandbox, phone)] == ["first", "second"]
    assert [m["body"] for m in messages_to(sandbox, other)] == ["alone"]


def due_day1(rt) -> tuple[str, int]:
    """A lead captured a day and a bit ago, so its day-1 touch is due now; returns its phone and touch id."""
    phone = new_phone()
    with rt.sessions.begin() as s:
        lead = Lead(business_id=1, phone=phone, channel="sms", source="test", status="contacted", answers={},
                    timezone=daytime_zone(),
                    created_at=utcnow() - timedelta(days=1, seconds=5))
        s.add(lead)
        s.flush()
        ids = enroll(s, rt, lead, why="test")
        touch_id = s.scalar(select(Touch.id).where(Touch.id.in_(ids), Touch.step == "day1"))
    return phone, touch_id


@pytest.mark.parametrize("path", ["cadence.jobs.run_touches", "cadence.jobs.run_touch"])
def test_old_touch_jobs_send_the_touch_once(rt, sandbox, path):
    phone, touch_id = due_day1(rt)
    run_old_job(rt, path, [touch_id] if path.endswith("run_touches") else touch_id)
    run_old_job(rt, path, [touch_id] if path.endswith("run_touches") else touch_id)
    sent = messages_to(sandbox, phone)
    assert len(sent) == 1 and "Still need help with your roof?" in sent[0]["body"]


def test_an_old_stall_check_enrols_a_lead_gone_quiet(rt):
    with rt.sessions.begin() as s:
        lead = Lead(business_id=1, phone=new_phone(), channel="sms", source="sms", status="contacted", answers={},
                    timezone=daytime_zone(), created_at=utcnow() - timedelta(days=2),
                    last_inbound_at=utcnow() - timedelta(days=2))
        s.add(lead)
        s.flush()
        lead_id = lead.id
    run_old_job(rt, "cadence.jobs.check_stall", lead_id)
    with rt.sessions() as s:
        assert s.scalars(select(Touch).where(Touch.lead_id == lead_id)).all(), "the quiet lead was not enrolled"


def test_an_old_crm_note_job_runs_without_a_model(rt):
    with rt.sessions.begin() as s:
        lead = Lead(business_id=1, phone=new_phone(), channel="sms", source="sms", status="qualified", answers={},
                    timezone=daytime_zone(), created_at=utcnow())
        s.add(lead)
        s.flush()
        lead_id = lead.id
    assert run_old_job(rt, "cadence.jobs.write_crm_note", lead_id).return_value() is False
