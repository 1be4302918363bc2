"""The webhook's contract with Twilio: signatures, idempotency, bad input, status callbacks."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from app import create_app
from bot.sandbox import new_sid, serve_in_thread
from store.models import Lead, Message
from store.suppression import is_suppressed
from tests.conftest import AUTH_TOKEN, SMS_FROM, wait_for


def inbound_form(number: str, body: str = "hi", sid: str | None = None) -> dict[str, str]:
    return {"MessageSid": sid or new_sid(), "AccountSid": "AC" + "a1" * 16, "From": number, "To": SMS_FROM,
            "Body": body, "NumMedia": "0"}


def post_signed(url: str, form: dict[str, str], *, token: str = AUTH_TOKEN, signed_url: str | None = None,
                signed_form: dict[str, str] | None = None) -> requests.Response:
    signature = RequestValidator(token).compute_signature(signed_url or url, signed_form or form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


def stored_messages(sessions, number: str) -> int:
    """Inbound messages stored from ``number`` (replies, which a fast worker may already have sent, not counted)."""
    with sessions() as s:
        return s.scalar(select(func.count(Message.id)).where(Message.from_address == number,
                                                            Message.direction == "inbound"))


def test_signed_inbound_gets_empty_twiml_at_once(web, sessions, phone):
    number = phone()
    answer = post_signed(f"{web}/twilio/messages", inbound_form(number))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "Response" and len(root) == 0  # empty TwiML: Twilio sends nothing itself
    assert stored_messages(sessions, number) == 1


@pytest.mark.parametrize("case", ["missing", "forged", "wrong_token", "tampered_body", "other_url"])
def test_bad_signature_is_refused_and_nothing_is_stored(web, sessions, phone, case):
    number = phone()
    url, form = f"{web}/twilio/messages", inbound_form(number)
    if case == "missing":
        answer = requests.post(url, data=form, timeout=10)
    elif case == "forged":
        answer = requests.post(url, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, timeout=10)
    elif case == "wrong_token":
        answer = post_signed(url, form, token="not-the-auth-token")
    elif case == "tampered_body":
        answer = post_signed(url, form, signed_form={**form, "Body": "something else"})
    else:
        answer = post_signed(url, form, signed_url="https://evil.example/twilio/messages")
    assert answer.status_code == 403
    assert stored_messages(sessions, number) == 0


def test_extra_parameters_twilio_may_add_are_accepted(web, sessions, phone):
    number = phone()
    form = {**inbound_form(number), "FromCity": "DENVER", "SmsStatus": "received", "MessagingServiceSid": "MG" + "0" * 32,
            "SomeFutureField": "x"}
    assert post_signed(f"{web}/twilio/messages", form).status_code == 200


def test_a_repeated_message_sid_is_processed_once(prospect, sessions):
    p = prospect()
    sid = new_sid()
    p.say("hello", message_sid=sid)
    p.wait_for_replies(2)
    p.say("hello", message_sid=sid)  # Twilio retrying a delivery it thought failed
    p.assert_no_more(2)
    assert stored_messages(sessions, p.number) == 1


def test_invalid_payload_gets_422_naming_the_field(web, sessions, phone):
    number = phone()
    form = inbound_form(number)
    form["From"] = "not a phone"
    answer = post_signed(f"{web}/twilio/messages", form)
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["fields"]] == ["From"]
    del form["From"]
    form["MessageSid"] = "nonsense"
    answer = post_signed(f"{web}/twilio/messages", form)
    assert answer.status_code == 422
    assert sorted(f["field"] for f in answer.json()["fields"]) == ["From", "MessageSid"]


def whatsapp_tap(number: str, **tap: str) -> dict[str, str]:
    """A WhatsApp message as Twilio posts a tap on one of its buttons (``ButtonPayload``) or list items (``ListId``)."""
    return {**inbound_form(f"whatsapp:{number}", body="Full replacement"), "To": "whatsapp:+14155238886",
            "WaId": number.lstrip("+"), **tap}


@pytest.mark.parametrize("field", ["ButtonPayload", "ListId"])
def test_a_tapped_id_is_stored_on_the_message(web, sessions, phone, field):
    number = phone()
    tap = {field: "service_type:replacement",
           **({"ButtonText": "Full replacement", "MessageType": "button"} if field == "ButtonPayload"
              else {"ListTitle": "Full replacement", "MessageType": "interactive"})}
    assert post_signed(f"{web}/twilio/messages", whatsapp_tap(number, **tap)).status_code == 200
    with sessions() as s:
        row = s.scalars(select(Message).where(Message.from_address == f"whatsapp:{number}")).one()
    assert (row.body, row.tapped) == ("Full replacement", "service_type:replacement")


@pytest.mark.parametrize("field", ["ButtonPayload", "ListId"])
def test_a_tapped_id_over_200_characters_is_422_naming_it(web, sessions, phone, field):
    number = phone()
    answer = post_signed(f"{web}/twilio/messages", whatsapp_tap(number, **{field: "service_type:" + "x" * 188}))
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["fields"]] == [field]
    assert stored_messages(sessions, f"whatsapp:{number}") == 0
    at_most = post_signed(f"{web}/twilio/messages", whatsapp_tap(number, **{field: "service_type:" + "x" * 187}))
    assert at_most.status_code == 200  # exactly 200: Twilio's limit on a button's id


def test_oversized_body_is_refused_before_parsing(web):
    answer = requests.post(f"{web}/twilio/messages", data={"Body": "x" * 100_000}, timeout=10)
    assert answer.status_code == 413


def test_signature_holds_behind_a_proxy(settings, phone, sessions):
    """Twilio signs the public URL; the app, reached at another address, checks against PUBLIC_BASE_URL."""
    public = "https://leads.summitroofing.example"
    app = create_app(settings.model_copy(update={"public_base_url": public}))
    server, url = serve_in_thread(app)
    try:
        number = phone()
        form = inbound_form(number)
        ok = post_signed(f"{url}/twilio/messages", form, signed_url=f"{public}/twilio/messages")
        assert ok.status_code == 200
        direct = post_signed(f"{url}/twilio/messages", inbound_form(number))  # signed for the inner URL
        assert direct.status_code == 403
    finally:
        server.shutdown()
        app.extensions["leadline"].close()


def test_status_callbacks_only_move_forward_and_unknown_sids_are_harmless(prospect, web, sessions):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)

    def sent_rows():
        with sessions() as s:
            rows = s.scalars(select(Message).join(Lead).where(Lead.phone == p.number, Message.direction == "outbound",
                                                              Message.status == "delivered")).all()
            return len(rows) == 2 and rows

    sid = wait_for(sent_rows)[0].twilio_sid
    late = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": "AC" + "a1" * 16}
    assert post_signed(f"{web}/twilio/status", late).status_code == 204
    with sessions() as s:
        assert s.scalar(select(Message.status).where(Message.twilio_sid == sid)) == "delivered"
    unknown = {"MessageSid": new_sid(), "MessageStatus": "delivered"}
    assert post_signed(f"{web}/twilio/status", unknown).status_code == 204
    assert requests.post(f"{web}/twilio/status", data=unknown, timeout=10).status_code == 403


def test_status_callback_with_21610_suppresses_the_number(prospect, web, sessions):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    with sessions() as s:
        sid = s.scalars(select(Message.twilio_sid).join(Lead).where(Lead.phone == p.number,
                                                                    Message.direction == "outbound")).first()
    failed = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610"}
    assert post_signed(f"{web}/twilio/status", failed).status_code == 204
    with sessions() as s:
        assert is_suppressed(s, business_id=1, address=p.number)
        assert s.scalar(select(Lead.status).where(Lead.phone == p.number)) == "opted_out"


def test_healthz_reports_database_and_redis(web):
    answer = requests.get(f"{web}/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def post_signed_pairs(url: str, pairs: list[tuple[str, str]]) -> requests.Response:
    """POST a form that may repeat a parameter, signed over every value as Twilio's RequestValidator reads a
    MultiDict (each name once, all its values), so a refusal is about the repetition, not the signature."""
    form = MultiDict(pairs)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)  # what the app checks: valid
    return requests.post(url, data=pairs, headers={"X-Twilio-Signature": signature}, timeout=10)


def test_a_signed_request_repeating_a_parameter_is_refused_with_400(web, sessions, phone):
    number = phone()
    first, second = new_sid(), new_sid()
    pairs = list(inbound_form(number, sid=first).items()) + [("MessageSid", second)]
    answer = post_signed_pairs(f"{web}/twilio/messages", pairs)
    assert answer.status_code == 400 and "MessageSid" in answer.text
    assert stored_messages(sessions, number) == 0
    same_twice = list(inbound_form(number).items()) + [("Body", "hi")]  # even the same value twice
    assert post_signed_pairs(f"{web}/twilio/messages", same_twice).status_code == 400
    assert post_signed_pairs(f"{web}/twilio/messages", list(inbound_form(number).items())).status_code == 200


def outbound_sent(sessions, number: str) -> str:
    """An outbound message row Twilio has taken (``sent``); its MessageSid."""
    sid = new_sid()
    with sessions.begin() as s:
        s.add(Message(business_id=1, direction="outbound", kind="reply", to_address=number, body="hello", twilio_sid=sid,
                      status="sent", outbox_state="sent"))
    return sid


def test_a_status_callback_repeating_a_parameter_is_refused_with_400(web, sessions, phone):
    sid = outbound_sent(sessions, phone())
    pairs = [("MessageSid", sid), ("MessageStatus", "failed"), ("MessageStatus", "delivered"), ("ErrorCode", "21610")]
    assert post_signed_pairs(f"{web}/twilio/status", pairs).status_code == 400
    with sessions() as s:
        assert s.scalar(select(Message.status).where(Message.twilio_sid == sid)) == "sent"


@pytest.mark.parametrize("sid", ["\x00", "SM" + "a" * 31 + "\x00", "nonsense", "SM" + "g" * 32, ""])
def test_a_status_callback_with_a_malformed_message_sid_is_422_naming_it(web, sid):
    answer = post_signed(f"{web}/twilio/status", {"MessageSid": sid, "MessageStatus": "delivered"})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == ["MessageSid"]


def test_a_status_callback_with_a_malformed_status_is_422_naming_it(web, sessions, phone):
    sid = outbound_sent(sessions, phone())
    answer = post_signed(f"{web}/twilio/status", {"MessageSid": sid, "MessageStatus": "deliv\x00ered"})
    assert answer.status_code == 422 and [f["field"] for f in answer.json()["fields"]] == ["MessageStatus"]
    with sessions() as s:
        assert s.scalar(select(Message.status).where(Message.twilio_sid == sid)) == "sent"


@pytest.mark.parametrize("error_code", ["²", "9" * 5000, "99999999999999999999", "-1", "30007x"])
def test_an_unreadable_error_code_is_no_code_and_the_status_still_counts(web, sessions, phone, error_code):
    sid = outbound_sent(sessions, phone())
    answer = post_signed(f"{web}/twilio/status", {"MessageSid": sid, "MessageStatus": "undelivered",
                                                  "ErrorCode": error_code})
    assert answer.status_code == 204, answer.text
    with sessions() as s:
        row = s.scalars(select(Message).where(Message.twilio_sid == sid)).one()
        assert (row.status, row.error_code) == ("undelivered", None)


@pytest.mark.parametrize("sender", ["+1619555ABCD", "whatsapp:+1619555ABCD", "+1720555²²²²",
                                    "whatsapp:whatsapp:+17205550100"])
def test_letters_in_from_are_422_not_read_as_a_keypad(web, sessions, sender):
    answer = post_signed(f"{web}/twilio/messages", inbound_form(sender))
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["fields"]] == ["From"]
    with sessions() as s:
        assert s.scalar(select(func.count(Lead.id)).where(Lead.phone == "+16195552223")) == 0
