"""POST /leads: capture from forms, ads and CRMs, with the T+0 first touch."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import select

from store.models import CaptureEvent, Lead
from tests.conftest import API_TOKEN, SMS_FROM, WHATSAPP_FROM, Prospect, messages_to

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def post(web: str, body, headers=AUTH) -> requests.Response:
    return requests.post(f"{web}/leads", json=body, headers=headers, timeout=10)


def form_lead(number: str, **extra) -> dict:
    # Captured now: a capture days old is already owed its day-1 and day-3 touches, which go out as soon as the
    # lead's quiet hours end and would count as messages the test never expected.
    received_at = datetime.now(timezone.utc).isoformat()
    return {"event_id": f"evt-{number}", "source": "web_form", "received_at": received_at,
            "service_type": "replacement", "urgency": "asap", "phone": number, "name": "Dee", "email": "dee@example.com",
            **extra}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}])
def test_without_the_api_token_is_401(web, phone, headers):
    answer = post(web, form_lead(phone()), headers=headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"


def test_bad_input_is_422_field_by_field(web, phone, sessions):
    number = phone()
    answer = post(web, {"source": "web_form", "phone": "12", "channel": "fax", "colour": "red",
                        "email": "not-an-email", "received_at": "yesterday"})
    assert answer.status_code == 422
    fields = {f["field"] for f in answer.json()["fields"]}
    assert fields == {"event_id", "phone", "channel", "colour", "email", "received_at"}
    assert post(web, ["not", "an", "object"]).status_code == 422
    with sessions() as s:
        assert s.scalar(select(Lead).where(Lead.phone == number)) is None


def test_a_form_lead_gets_its_first_touch_at_once_and_a_repeat_changes_nothing(web, worker, sandbox, sessions, phone):
    number = phone()
    answer = post(web, form_lead(number))
    assert answer.status_code == 201 and answer.json()["result"] == "created"
    p = Prospect(sandbox, number)
    greeting, question = p.wait_for_replies(2)
    assert greeting.startswith("Hi Dee! Thanks for reaching out") and question.startswith("What do you need?")
    assert {m["from"] for m in p.received()} == {SMS_FROM}
    with sessions() as s:
        lead = s.scalars(select(Lead).where(Lead.phone == number)).one()
        capture = s.scalars(select(CaptureEvent).where(CaptureEvent.lead_id == lead.id)).one()
        assert (lead.source, lead.email, lead.status, lead.timezone) == ("web_form", "dee@example.com", "contacted",
                                                                        "America/Denver")
        assert lead.first_response_at is not None
        assert (capture.event_id, capture.source, capture.service_type, capture.urgency, capture.contact_method) == \
            (f"evt-{number}", "web_form", "replacement", "asap", "sms")
    again = post(web, form_lead(number))
    assert (again.status_code, again.json()["result"]) == (200, "already_received")
    duplicate = post(web, form_lead(number, event_id=f"other-{number}", source="google_ads"))
    assert (duplicate.status_code, duplicate.json()["result"]) == (200, "duplicate")
    p.assert_no_more(2)
    with sessions() as s:
        dup = s.scalars(select(CaptureEvent).where(CaptureEvent.event_id == f"other-{number}")).one()
        assert dup.duplicate and dup.lead_id == lead.id
    p.say("2")  # the conversation the first touch opened goes on
    assert p.wait_for_replies(3)[-1].startswith("How soon do you need it?")


def test_a_whatsapp_lead_is_opened_with_the_first_touch_template(web, worker, sandbox, phone):
    number = phone()
    assert post(web, form_lead(number, channel="whatsapp", name="Ann")).status_code == 201
    sent = Prospect(sandbox, number, whatsapp=True).wait_for_replies(1)
    rows = messages_to(sandbox, f"whatsapp:{number}")
    assert [(m["content_sid"], m["content_variables"], m["from"]) for m in rows] == [
        ("HX" + "0" * 32, '{"1": "Ann"}', WHATSAPP_FROM)]
    assert len(sent) == 1


def test_an_opted_out_number_is_recorded_not_messaged(web, worker, sandbox, sessions, phone):
    from store.suppression import is_suppressed
    from tests.conftest import wait_for

    number = phone()
    p = Prospect(sandbox, number)
    p.say("STOP")

    def opted_out():
        with sessions() as s:
            return is_suppressed(s, business_id=1, address=number)

    wait_for(opted_out, what="the STOP to be processed")
    answer = post(web, form_lead(number))
    assert (answer.status_code, answer.json()["result"]) == (200, "opted_out")
    p.assert_no_more(0)


@pytest.mark.parametrize("received_at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00",
                                         "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"])
def test_a_received_at_outside_1970_to_2200_is_422_naming_it(web, phone, sessions, received_at):
    number = phone()
    answer = post(web, form_lead(number, received_at=received_at))
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == ["received_at"]
    with sessions() as s:
        assert s.scalar(select(Lead).where(Lead.phone == number)) is None


@pytest.mark.parametrize("given", ["whatsapp:{number}", "sms:{number}", "{number}ABCD", "+1619555ABCD", "+1720555²²²²",
                                   "tel:{number}"])
def test_a_phone_is_a_number_not_an_address_or_letters(web, phone, given):
    number = phone()
    answer = post(web, form_lead(number, phone=given.format(number=number)))
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == ["phone"]


def test_a_formatted_phone_is_still_taken(web, phone, sessions):
    number = phone()
    answer = post(web, form_lead(number, phone=f"({number[2:5]}) {number[5:8]}-{number[8:]}"))
    assert answer.status_code == 201, answer.text
    with sessions() as s:
        assert s.scalar(select(Lead.phone).where(Lead.id == answer.json()["lead_id"])) == number


def test_json_nested_too_deeply_is_refused_not_a_server_error(web):
    answer = requests.post(f"{web}/leads", data="[" * 30000, timeout=10,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == 422
