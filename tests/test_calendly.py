"""Booking confirmation: Calendly's signed webhooks mark the lead booked (or reopen it) and stop its cadence."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from store.models import Activity, Touch
from tests.conftest import API_TOKEN, CALENDLY_KEY, REP_PHONE, lead_of, messages_to, qualify, wait_for
from web.calendly import TOLERANCE_S, parse_signature, signature_valid


def signed(payload: dict, *, key: str = CALENDLY_KEY, at: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = str(int(at if at is not None else time.time()))
    v1 = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"Calendly-Webhook-Signature": f"t={stamp},v1={v1}", "Content-Type": "application/json"}


def invitee_event(event: str, *, uri: str, utm_content: str | None = None, phone: str | None = None,
                  email: str = "someone@example.com", rescheduled: bool = False) -> dict:
    return {"event": event, "created_at": "2026-11-22T18:00:00.000000Z", "payload": {
        "uri": uri, "email": email, "name": "Ann Lee", "status": "active" if event == "invitee.created" else "canceled",
        "rescheduled": rescheduled, "text_reminder_number": phone,
        "tracking": {"utm_source": "leadline", "utm_content": utm_content},
        "scheduled_event": {"start_time": "2026-11-24T16:00:00.000000Z"},
        "questions_and_answers": []}}


def post(web: str, payload: dict, **sign) -> requests.Response:
    body, headers = signed(payload, **sign)
    return requests.post(f"{web}/webhooks/calendly", data=body, headers=headers, timeout=10)


@pytest.fixture
def qualified_lead(prospect, sessions):
    p = prospect()
    qualify(p)
    link = urlsplit(p.received()[-1]["body"].split(": ", 1)[1])
    return p, lead_of(sessions, p.number), parse_qs(link.query)["utm_content"][0]


def test_booking_through_the_link_marks_the_lead_booked_stops_the_cadence_and_tells_the_rep(
        web, qualified_lead, sandbox, sessions):
    p, lead, ref = qualified_lead
    assert ref == f"lead-{lead.id}"  # what the booking link carried
    rep_before = len(messages_to(sandbox, REP_PHONE))
    event = invitee_event("invitee.created", uri=f"https://api.calendly.com/invitees/{lead.id}-a", utm_content=ref)
    answer = post(web, event)
    assert answer.status_code == 200 and answer.json()["lead_id"] == lead.id
    booked = lead_of(sessions, p.number)
    assert (booked.status, booked.stop_reason, booked.next_action_by) == ("booked", "booked", "closed")
    assert booked.booked_at is not None
    with sessions() as s:
        assert {t.result for t in s.scalars(select(Touch).where(Touch.lead_id == lead.id))} == {"cancelled"}
    alert = wait_for(lambda: (m := messages_to(sandbox, REP_PHONE)) and len(m) > rep_before and m[-1])
    assert alert["body"].startswith("Booked for 2026-11-24T16:00:00.000000Z:") and p.number in alert["body"]

    assert post(web, event).status_code == 200  # Calendly retries: nothing new happens
    time.sleep(1)
    assert len(messages_to(sandbox, REP_PHONE)) == rep_before + 1
    with sessions() as s:
        bookings = s.scalars(select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "booking")).all()
    assert [b.data["event"] for b in bookings] == ["created"]


def test_cancelled_booking_reopens_the_lead_but_a_reschedule_does_not(web, qualified_lead, sessions):
    p, lead, ref = qualified_lead
    uri = f"https://api.calendly.com/invitees/{lead.id}-b"
    assert post(web, invitee_event("invitee.created", uri=uri, utm_content=ref)).json()["status"] == "booked"
    moved = post(web, invitee_event("invitee.canceled", uri=uri, utm_content=ref, rescheduled=True))
    assert moved.json()["status"] == "booked"
    cancelled = post(web, invitee_event("invitee.canceled", uri=uri + "2", utm_content=ref))
    assert cancelled.json()["status"] == "qualified"
    reopened = lead_of(sessions, p.number)
    assert (reopened.status, reopened.booked_at, reopened.next_action_by) == ("qualified", None, "reps")
    assert reopened.stop_reason is None and reopened.enrolled_at is not None  # back in the cadence


def test_lead_is_matched_by_phone_then_email_when_the_link_lost_its_utm(web, prospect, sessions):
    by_phone = prospect()
    by_phone.say("hi")
    by_phone.wait_for_replies(2)
    formatted = f"({by_phone.number[2:5]}) {by_phone.number[5:8]}-{by_phone.number[8:]}"
    answer = post(web, invitee_event("invitee.created", uri="https://api.calendly.com/invitees/p1", phone=formatted))
    assert answer.json()["lead_id"] == lead_of(sessions, by_phone.number).id

    by_email = prospect()
    answer = requests.post(f"{web}/leads", json={"event_id": f"form-{by_email.number}", "source": "web_form",
                                                 "phone": by_email.number, "email": "Ann.Lee@Example.com"},
                           headers={"Authorization": "Bearer test-api-token"}, timeout=10)
    assert answer.status_code == 201
    answer = post(web, invitee_event("invitee.created", uri="https://api.calendly.com/invitees/e1",
                                     email="ann.lee@example.com"))
    assert answer.json()["lead_id"] == answer_id(sessions, by_email.number)

    nobody = post(web, invitee_event("invitee.created", uri="https://api.calendly.com/invitees/x",
                                     email="nobody@example.org"))
    assert nobody.status_code == 200 and nobody.json()["lead_id"] is None


def answer_id(sessions, number: str) -> int:
    return lead_of(sessions, number).id


@pytest.mark.parametrize("case", ["wrong_key", "too_old", "tampered", "missing", "garbled"])
def test_a_bad_signature_is_refused_with_403_and_changes_nothing(web, qualified_lead, sessions, case):
    p, lead, ref = qualified_lead
    event = invitee_event("invitee.created", uri=f"https://api.calendly.com/invitees/{case}", utm_content=ref)
    body, headers = signed(event, key="not-the-key" if case == "wrong_key" else CALENDLY_KEY,
                           at=time.time() - 181 if case == "too_old" else None)
    if case == "tampered":
        body = body.replace(ref.encode(), b"lead-1")
    if case == "missing":
        del headers["Calendly-Webhook-Signature"]
    if case == "garbled":
        headers["Calendly-Webhook-Signature"] = "v1=zzz"
    answer = requests.post(f"{web}/webhooks/calendly", data=body, headers=headers, timeout=10)
    assert answer.status_code == 403
    assert lead_of(sessions, p.number).status == "qualified"


def test_a_signed_but_malformed_event_gets_422(web):
    body, headers = signed({"event": "invitee.created", "payload": "nope"})
    answer = requests.post(f"{web}/webhooks/calendly", data=body, headers=headers, timeout=10)
    assert answer.status_code == 422 and answer.json()["fields"][0]["field"] == "payload"


def capture(web: str, number: str, email: str) -> int:
    """A lead through ``POST /leads`` with ``email``; its id."""
    answer = requests.post(f"{web}/leads", json={"event_id": f"cal-{number}", "source": "web_form", "phone": number,
                                                 "email": email},
                           headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["lead_id"]


def test_the_email_is_matched_whole_not_as_a_pattern(web, phone, sessions):
    number = phone()
    local = f"john.smith.{number[2:]}"
    lead_id = capture(web, number, f"{local}@example.com")
    for email in (f"{local.replace('.', '_')}@example.com", "%@example.com", f"{local}@example.co_"):
        answer = post(web, invitee_event("invitee.created", uri=f"https://api.calendly.com/invitees/{email}",
                                         email=email))
        assert (answer.status_code, answer.json()["lead_id"]) == (200, None), email
    assert lead_of(sessions, number).status != "booked"
    same = post(web, invitee_event("invitee.created", uri="https://api.calendly.com/invitees/same",
                                   email=f"{local.upper()}@EXAMPLE.COM"))
    assert same.json()["lead_id"] == lead_id  # the same address in another case is the same person


@pytest.mark.parametrize("signature", [
    "t=²,v1=00",  # "²".isdigit() is True, int("²") fails
    "t=" + "9" * 5000 + ",v1=" + "0" * 64,
    "t={now},v1=é" + "0" * 63,  # non-ASCII: hmac.compare_digest would raise TypeError
    "t={now},v1=" + "g" * 64,
    "t={now},v1=" + "0" * 63,
    "t={now},t={now},v1=" + "0" * 64,
    "t=٣,v1=" + "0" * 64,
    "",
])
def test_a_garbled_signature_header_is_refused_with_403(web, signature):
    body, headers = signed(invitee_event("invitee.created", uri="https://api.calendly.com/invitees/garbled"))
    header = signature.format(now=int(time.time()))
    try:  # as a client sends it: Latin-1 bytes, which the server reads back as the same characters
        headers["Calendly-Webhook-Signature"] = header.encode("latin-1")
    except UnicodeEncodeError:
        headers["Calendly-Webhook-Signature"] = header.encode()
    answer = requests.post(f"{web}/webhooks/calendly", data=body, headers=headers, timeout=10)
    assert answer.status_code == 403


def test_the_signature_header_is_read_strictly_but_as_calendly_writes_it():
    body, key, now = b'{"event": "invitee.created"}', "k", 1_700_000_000
    v1 = hmac.new(key.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert signature_valid(f"t={now},v1={v1}", body, key, now=now)
    assert signature_valid(f"t={now}, v1={v1.upper()}", body, key, now=now + TOLERANCE_S)
    assert not signature_valid(f"t={now},v1={v1}", body, key, now=now + TOLERANCE_S + 1)
    assert not signature_valid(f"t={now},v1={v1},x=1", body, key, now=now)
    assert parse_signature(f"t={now},v1={v1.upper()}") == (now, str(now), v1)


@pytest.mark.parametrize("mutate", [
    lambda p: p.update(tracking=["utm_content", "lead-1"]),
    lambda p: p.update(tracking="lead-1"),
    lambda p: p.update(scheduled_event="2026-11-24T16:00:00Z"),
    lambda p: p.update(questions_and_answers=5),
    lambda p: p.update(questions_and_answers=[5, "x", {"answer": ["+13035550100"]}]),
    lambda p: p.update(text_reminder_number={"number": "+13035550100"}),
    lambda p: p.update(email=["someone@example.com"], uri={"x": 1}),
    lambda p: p["tracking"].update(utm_content="lead-" + "9" * 30),
    lambda p: p["tracking"].update(utm_content=f"lead-{2**31}"),
    lambda p: p["tracking"].update(utm_content="lead-٣"),
], ids=["tracking_list", "tracking_string", "scheduled_event_string", "answers_number", "answers_odd",
        "reminder_object", "email_list", "ref_huge", "ref_past_max_id", "ref_not_ascii"])
def test_a_signed_delivery_of_odd_shapes_matches_no_lead_instead_of_failing(web, mutate):
    event = invitee_event("invitee.created", uri="https://api.calendly.com/invitees/odd",
                          email=f"nobody-{time.monotonic_ns()}@example.org")
    mutate(event["payload"])
    answer = post(web, event)
    assert (answer.status_code, answer.json()["lead_id"]) == (200, None), answer.text


def test_a_lead_ref_past_any_id_falls_back_to_the_email(web, phone):
    number = phone()
    lead_id = capture(web, number, f"ref-{number[2:]}@example.com")
    answer = post(web, invitee_event("invitee.created", uri="https://api.calendly.com/invitees/huge",
                                     utm_content="lead-" + "9" * 30, email=f"ref-{number[2:]}@example.com"))
    assert answer.json()["lead_id"] == lead_id


def test_a_delivery_without_uri_never_logs_or_keys_on_the_email(web, phone, sessions, caplog):
    caplog.set_level(logging.INFO)
    email = f"no-uri-{time.monotonic_ns()}@example.org"
    event = invitee_event("invitee.created", uri="", email=email)
    del event["payload"]["uri"]
    assert post(web, event).json()["lead_id"] is None
    assert "matched no lead (invitee delivery-sha256:" in caplog.text
    number = phone()
    lead_id = capture(web, number, f"booked-{number[2:]}@example.com")
    event = invitee_event("invitee.created", uri="", email=f"booked-{number[2:]}@example.com")
    del event["payload"]["uri"]
    assert post(web, event).json()["lead_id"] == lead_id
    with sessions() as s:
        booking = s.scalars(select(Activity).where(Activity.lead_id == lead_id, Activity.kind == "booking")).one()
    assert booking.data["invitee"].startswith("delivery-sha256:")
    assert email not in caplog.text and "@example.com" not in caplog.text


def test_json_nested_too_deeply_is_refused_not_a_server_error(web):
    body = b"[" * 30000
    stamp = str(int(time.time()))
    v1 = hmac.new(CALENDLY_KEY.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    answer = requests.post(f"{web}/webhooks/calendly", data=body, timeout=10, headers={
        "Calendly-Webhook-Signature": f"t={stamp},v1={v1}", "Content-Type": "application/json"})
    assert answer.status_code == 422
