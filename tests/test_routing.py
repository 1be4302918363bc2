"""Which sender a message goes out from: the number written to, a Messaging Service, or the business senders."""

from __future__ import annotations

from sqlalchemy import select

from bot.conversation.turns import run_turn
from bot.delivery.result import SendResult
from bot.delivery.send import send
from bot.sandbox import new_sid
from jobs.process import build_runtime
from store.inbound import store_inbound
from store.models import Message, utcnow
from tests.conftest import SMS_FROM, messages_to

SERVICE = "MG" + "5" * 32


def say(rt, number: str, body: str, *, to: str = "+15005550007") -> list[SendResult]:
    """One inbound message through a turn, in process; the sends' results."""
    with rt.sessions.begin() as s:
        inbound = store_inbound(s, business_id=1, from_address=number, to_address=to, message_sid=new_sid(), body=body,
                                profile_name=None, media=None, received_at=utcnow())
    return [send(rt, i) for i in run_turn(rt, inbound).outbox_ids]


def test_replies_go_through_the_messaging_service_when_one_is_set(settings, sandbox, phone):
    rt = build_runtime(settings.model_copy(update={"twilio_messaging_service_sid": SERVICE,
                                                   "queue_name": "routing-test"}))
    try:
        number = phone()
        say(rt, number, "hi")
        sent = messages_to(sandbox, number)
        assert len(sent) == 2
        assert all(m["messaging_service_sid"] == SERVICE and m["from"] is None for m in sent)
        with rt.sessions() as s:
            rows = s.scalars(select(Message).where(Message.to_address == number)).all()
            assert [r.outbox_state for r in rows] == ["sent", "sent"]
    finally:
        rt.close()


def test_replies_go_from_the_number_the_prospect_wrote_to(settings, sandbox, phone):
    rt = build_runtime(settings.model_copy(update={"queue_name": "routing-test"}))
    try:
        number = phone()
        say(rt, number, "hi")
        # +15005550007 is not TWILIO_SMS_FROM: the reply comes from the number the prospect wrote to
        assert {m["from"] for m in messages_to(sandbox, number)} == {"+15005550007"}
    finally:
        rt.close()


def test_a_hot_leads_call_alert_waits_for_the_call_window(settings, sandbox, phone, tmp_path):
    """Outside the call window (in the lead's local time) the rep's HOT alert is held for the next opening."""
    from datetime import datetime
    from datetime import timezone as tz
    from zoneinfo import ZoneInfo

    from cadence.clock import next_call_opening
    from graph.playbook import WEEKDAYS
    from store.models import Lead
    from tests.conftest import REP_PHONE, make_playbook

    today = WEEKDAYS[datetime.now(tz.utc).astimezone(ZoneInfo("America/Denver")).weekday()]
    other_days = [d for d in WEEKDAYS if d != today]
    playbook = make_playbook(tmp_path)
    text = playbook.read_text().replace("days:\n    - mon\n    - tue\n    - wed\n    - thu\n    - fri\n    - sat\n    - sun",
                                        "days: [" + ", ".join(other_days) + "]")
    playbook.write_text(text)
    rt = build_runtime(settings.model_copy(update={"playbook": playbook, "queue_name": "callwindow-test"}))
    try:
        assert today not in rt.playbook.cadence.call_window.days
        number = phone()
        alerts_before = len(messages_to(sandbox, REP_PHONE))
        for body in ("hi", "2", "asap", "80203", "yes"):
            results = say(rt, number, body, to=SMS_FROM)
        assert results[-1] is SendResult.NOT_PENDING  # the held alert: claimed by nobody before its time
        with rt.sessions() as s:
            lead = s.scalars(select(Lead).where(Lead.phone == number)).one()
            alert = s.scalars(select(Message).where(Message.lead_id == lead.id, Message.kind == "rep_alert")).one()
        expected = next_call_opening(utcnow(), "America/Denver", rt.playbook.cadence.call_window)
        assert lead.call_alert_at == alert.send_after
        assert abs((alert.send_after - expected).total_seconds()) < 5 and alert.send_after > utcnow()
        assert alert.outbox_state == "pending"
        assert len(messages_to(sandbox, REP_PHONE)) == alerts_before
    finally:
        rt.close()


def test_a_booking_stops_the_cadence_and_any_owed_touch(settings, phone):
    """Issue 4's booking signals (Calendly, the dashboard) end in enrollment.stop(reason='booked'):
    every owed touch is cancelled, and a touch job that runs anyway sends nothing."""
    from cadence import enrollment
    from cadence.touches import run_touch
    from store.leads import set_status
    from store.models import Lead, Touch

    rt = build_runtime(settings.model_copy(update={"queue_name": "booking-test"}))
    try:
        number = phone()
        say(rt, number, "hi")
        with rt.sessions.begin() as s:
            lead = s.scalars(select(Lead).where(Lead.phone == number)).one()
            owed = enrollment.enroll(s, rt, lead, why="stalled")
            assert len(owed) == 5
        with rt.sessions.begin() as s:
            lead = s.scalars(select(Lead).where(Lead.phone == number)).one()
            set_status(s, lead=lead, status="booked")
            assert enrollment.stop(s, lead, reason="booked") == 5
        with rt.sessions.begin() as s:  # a job Redis still held runs anyway
            s.get(Touch, owed[0]).result, s.get(Touch, owed[0]).next_attempt_at = None, utcnow()
        assert run_touch(rt, owed[0]) is SendResult.CANCELLED
        with rt.sessions() as s:
            lead = s.scalars(select(Lead).where(Lead.phone == number)).one()
            assert lead.stop_reason == "booked"
            assert [t.result for t in s.scalars(select(Touch).where(Touch.lead_id == lead.id))] == ["cancelled"] * 5
    finally:
        rt.close()
