"""Opt-out, opt-in and help keywords, and the opt-out check right before every send."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.delivery.result import SendResult
from bot.delivery.send import send
from jobs.process import build_runtime
from store import outbox
from store.consent import opt_out
from store.models import Lead, Message
from store.suppression import is_suppressed


def lead_status(sessions, phone: str, channel: str = "sms") -> str:
    with sessions() as s:
        return s.scalars(select(Lead.status).where(Lead.phone == phone, Lead.channel == channel)).one()


@pytest.fixture(scope="module")
def runtime(settings):
    rt = build_runtime(settings)
    yield rt
    rt.close()


@pytest.mark.parametrize("whatsapp", [False, True], ids=["sms", "whatsapp"])
def test_stop_mid_flow_ends_all_sending(prospect, sessions, whatsapp):
    p = prospect(whatsapp=whatsapp)
    p.say("hi")
    p.wait_for_replies(2)
    p.say("2")
    p.wait_for_replies(3)
    p.say("  Stop. ")
    p.say("asap")
    p.say("80203")
    p.assert_no_more(3)
    assert lead_status(sessions, p.number, "whatsapp" if whatsapp else "sms") == "opted_out"
    with sessions() as s:
        lead = s.scalars(select(Lead).where(Lead.phone == p.number)).one()
        assert lead.lost_reason == "opted_out"
        inbound = s.scalars(select(Message.body).where(Message.lead_id == lead.id, Message.direction == "inbound"))
        assert list(inbound) == ["hi", "2", "  Stop. ", "asap", "80203"]  # kept, just not answered


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel!", "end", "QUIT", "revoke", "opt-out"])
def test_every_opt_out_keyword_in_any_case_and_punctuation(prospect, sessions, word):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    p.say(word)
    p.say("hello?")
    p.assert_no_more(2, settle_s=1.0)
    assert lead_status(sessions, p.number) == "opted_out"


def test_opt_out_on_sms_also_silences_whatsapp(prospect, sandbox, sessions):
    from tests.conftest import Prospect

    sms = prospect()
    sms.say("hi")
    sms.wait_for_replies(2)
    sms.say("STOP")
    whatsapp = Prospect(sandbox, sms.number, whatsapp=True)
    whatsapp.say("hello from whatsapp")
    whatsapp.assert_no_more(0)
    assert lead_status(sessions, sms.number, "whatsapp") == "opted_out"


def test_start_resubscribes_and_the_conversation_resumes(prospect, sessions):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    p.say("STOP")
    p.say("START")
    assert p.wait_for_replies(3)[-1] == "You're subscribed again to messages from Summit Roofing. Reply STOP to opt out."
    assert lead_status(sessions, p.number) == "contacted"
    p.say("3")
    assert p.wait_for_replies(4)[-1].startswith("How soon do you need it?")


def test_yes_resubscribes_only_an_opted_out_number(prospect, sessions):
    p = prospect()
    for n, answer in enumerate(["hi", "2", "asap", "80203"]):
        p.say(answer)
        p.wait_for_replies(2 + n)
    p.say("YES")  # not opted out: an answer to "Are you the property owner?"
    assert p.wait_for_replies(6)[-1].startswith("Thanks! You're a great fit.")


def test_help_answers_with_the_playbook_help_text_and_keeps_the_question(prospect):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    p.say("help")
    assert p.wait_for_replies(3)[-1] == "Summit Roofing estimates. Call (303) 555-0142. Reply STOP to opt out."
    p.say("1")
    assert p.wait_for_replies(4)[-1].startswith("How soon do you need it?")


def test_opt_out_is_checked_right_before_the_send(runtime, phone):
    """A send queued before a STOP is cancelled when its turn to go comes."""
    number = phone()
    with runtime.sessions.begin() as s:
        queued = outbox.add_outbound(s, business_id=1, lead_id=None, kind="reply", to_address=number, body="queued earlier",
                                     dedupe_key=f"test:{number}", from_address="+15005550006")
        opt_out(s, business_id=1, phone=number, keyword="STOP")
        s.get(Message, queued).outbox_state = "pending"  # as if queued by a job the STOP did not see
    assert send(runtime, queued) is SendResult.CANCELLED
    with runtime.sessions() as s:
        assert s.get(Message, queued).twilio_sid is None


def test_twilio_21610_marks_the_number_opted_out(runtime, sandbox, phone):
    """Twilio knows of a STOP we never saw; its 21610 refusal suppresses the number on our side too."""
    import requests

    number = phone()
    requests.post(f"{sandbox.url}/sandbox/optouts", data={"Phone": number}, timeout=10).raise_for_status()
    with runtime.sessions.begin() as s:
        queued = outbox.add_outbound(s, business_id=1, lead_id=None, kind="rep_alert", to_address=number, body="hello",
                                     dedupe_key=f"test21610:{number}", from_address="+15005550006")
    assert send(runtime, queued) is SendResult.FAILED
    with runtime.sessions() as s:
        assert s.get(Message, queued).error_code == 21610
        assert is_suppressed(s, business_id=1, address=number)
