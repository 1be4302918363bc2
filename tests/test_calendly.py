"""Booking confirmation: Calendly's signed webhooks mark the lead booked (or reopen it) and stop its cadence."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from store.models import Activity, Touch
from tests.conftest import CALENDLY_KEY, REP_PHONE, lead_of, messages_to, qualify, wait_for


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
    assert (booked.status, booked.stop_reason, booked.current_queue) == ("booked", "booked", "closed")
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
    assert (reopened.status, reopened.booked_at, reopened.current_queue) == ("qualified", None, "reps")
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
