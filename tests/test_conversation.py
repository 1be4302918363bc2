"""End to end over HTTP: sandbox → signed webhook → RQ → real worker → graph → store → sender → sandbox."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from store.models import Activity, CaptureEvent, Lead, Message
from tests.conftest import QUALIFYING_ANSWERS, REP_PHONE, SMS_FROM, WHATSAPP_FROM, lead_of, messages_to, wait_for


def test_hot_lead_gets_booking_link_and_rep_is_told(prospect, sandbox, sessions):
    p = prospect()
    rep_before = len(messages_to(sandbox, REP_PHONE))
    p.say("Hi, I'd like a quote please")
    greeting, first_question = p.wait_for_replies(2)
    assert greeting.startswith("Hi! Thanks for reaching out to Summit Roofing")
    assert "Reply 1 for a leak or repair" in first_question
    for n, answer in enumerate(QUALIFYING_ANSWERS, start=1):
        p.say(answer)
        p.wait_for_replies(2 + n)

    final = p.received()[-1]
    assert final["body"].startswith("Thanks! You're a great fit. Grab a time for your free estimate: ")
    link = urlsplit(final["body"].split(": ", 1)[1])
    assert link.netloc == "calendly.com"
    assert parse_qs(link.query)["phone"] == [p.number]
    assert final["from"] == SMS_FROM  # replies go from the number the prospect wrote to

    alerts = wait_for(lambda: (m := messages_to(sandbox, REP_PHONE)) and len(m) > rep_before and m)
    alert = alerts[-1]["body"]
    assert alert.startswith("HOT lead (A, 100/100)")
    assert p.number in alert and "service_type: replacement" in alert and "postal_code: 80203" in alert
    assert alerts[-1]["from"] == SMS_FROM  # business-initiated: TWILIO_SMS_FROM

    lead = lead_of(sessions, p.number)
    assert (lead.status, lead.grade, lead.score_total) == ("qualified", "A", 100)
    assert (lead.score_fit, lead.score_intent, lead.score_engagement) == (50, 40, 10)
    assert {i["question"] for i in lead.score_breakdown["fit"]} == {"service_type", "is_owner"}
    assert lead.answers == {"service_type": "replacement", "urgency": "now", "postal_code": "80203", "is_owner": True}
    assert float(lead.estimated_value_usd) == 14000
    assert lead.owner == "Dana"
    assert lead.first_response_at is not None and lead.first_response_at >= lead.created_at
    with sessions() as s:
        changes = [(a.data["from"], a.data["to"]) for a in s.scalars(
            select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "status_change").order_by(Activity.id))]
        capture = s.scalars(select(CaptureEvent).where(CaptureEvent.lead_id == lead.id)).one()
    assert changes == [("new", "contacted"), ("contacted", "qualified")]
    assert (capture.channel, capture.service_type, capture.urgency, capture.contact_method) == \
        ("sms", "replacement", "now", "sms")


def test_whatsapp_prospect_is_greeted_by_profile_name_from_the_number_they_wrote_to(prospect, sessions):
    p = prospect(whatsapp=True, name="Ann")
    p.say("hello")
    greeting, _ = p.wait_for_replies(2)
    assert greeting.startswith("Hi Ann! Thanks for reaching out")
    assert all(m["from"] == WHATSAPP_FROM and m["to"] == f"whatsapp:{p.number}" for m in p.received())
    lead = lead_of(sessions, p.number, "whatsapp")
    assert (lead.channel, lead.profile_name, lead.source) == ("whatsapp", "Ann", "inbound_whatsapp")


def test_out_of_area_lead_gets_deflection_and_lost_reason(prospect, sandbox, sessions):
    p = prospect()
    rep_before = len(messages_to(sandbox, REP_PHONE))
    for n, answer in enumerate(["hi", "1", "today", "90210"]):
        p.say(answer)
        p.wait_for_replies(2 + n)
    deflection = p.received()[-1]["body"]
    assert deflection == ("Thanks. Sorry, we don't serve 90210 yet. This guide may still help: "
                          "https://summitroofing.example/guide")
    lead = lead_of(sessions, p.number)
    assert (lead.status, lead.lost_reason) == ("disqualified", "not_serviceable")
    p.say("are you sure?")
    assert "reach out if we can help" in p.wait_for_replies(6)[-1]  # no questions again
    assert len(messages_to(sandbox, REP_PHONE)) == rep_before


def test_a_corrected_zip_code_reopens_a_disqualified_lead(prospect, sessions):
    p = prospect()
    for n, answer in enumerate(["hi", "2", "asap", "90210"]):
        p.say(answer)
        p.wait_for_replies(2 + n)
    assert lead_of(sessions, p.number).status == "disqualified"
    p.say("oops, sorry: it's 80203")
    assert p.wait_for_replies(6)[-1] == "Got it: in 80203. Are you the property owner? (yes/no)"
    assert (lead_of(sessions, p.number).status, lead_of(sessions, p.number).score_total) == ("contacted", None)
    p.say("yes")
    assert p.wait_for_replies(7)[-1].startswith("Thanks! You're a great fit.")
    lead = lead_of(sessions, p.number)
    assert (lead.status, lead.lost_reason, lead.answers["postal_code"]) == ("qualified", None, "80203")


def test_unparseable_answer_is_reasked_twice_then_recorded_unknown(prospect, sessions):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    p.say("banana")
    reask = p.wait_for_replies(3)[-1]
    assert reask.startswith("Sorry, I didn't catch that.") and "Reply 1 for a leak or repair" in reask
    p.say("what?")
    assert p.wait_for_replies(4)[-1].startswith("Sorry")
    p.say("no idea")
    assert p.wait_for_replies(5)[-1].startswith("How soon do you need it?")  # gave up, moved on
    assert lead_of(sessions, p.number).answers == {"service_type": None}


def test_message_after_qualification_gets_the_booking_link_not_the_questions(prospect):
    p = prospect()
    for n, answer in enumerate(["hi", *QUALIFYING_ANSWERS]):
        p.say(answer)
        p.wait_for_replies(2 + n)
    p.say("when can you come?")
    again = p.wait_for_replies(7)[-1]
    assert again.startswith("Your booking link again: https://calendly.com/summit-roofing/estimate?")


def test_two_messages_at_once_are_handled_in_arrival_order(prospect, sessions, settings, tmp_path):
    """Two workers compete; one lead's turns still run one at a time, in the order they arrived."""
    from tests.conftest import start_worker, stop_worker

    second = start_worker(settings, tmp_path / "second-worker.log")
    try:
        p = prospect()
        p.say("hi")
        p.wait_for_replies(2)
        p.say("2")       # both webhooks are acknowledged before either turn runs
        p.say("tomorrow")
        replies = p.wait_for_replies(4)
        assert replies[2].startswith("How soon do you need it?")
        assert replies[3] == "What's the ZIP code of the property?"
        assert lead_of(sessions, p.number).answers == {"service_type": "replacement", "urgency": "now"}
    finally:
        stop_worker(second)


def test_concurrent_deliveries_from_one_number_make_one_lead_and_each_is_answered(prospect, sessions):
    p = prospect()
    threads = [threading.Thread(target=p.say, args=(text,)) for text in ("hello", "hello again")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replies = p.wait_for_replies(3)
    assert replies[0].startswith("Hi!") and "Reply 1 for a leak" in replies[1]
    assert replies[2].startswith("Sorry, I didn't catch that.")  # the second message answered the first question
    with sessions() as s:
        assert len(s.scalars(select(Lead).where(Lead.phone == p.number)).all()) == 1


def test_status_callbacks_record_delivery(prospect, sessions):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    lead = lead_of(sessions, p.number)

    def delivered():
        with sessions() as s:
            rows = s.scalars(select(Message).where(Message.lead_id == lead.id, Message.direction == "outbound")).all()
            return len(rows) == 2 and all(r.status == "delivered" for r in rows) and rows

    rows = wait_for(delivered, what="delivered status callbacks")
    assert all(r.twilio_sid.startswith("SM") and r.outbox_state == "sent" for r in rows)
