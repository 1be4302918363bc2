"""The sandbox keeps Twilio's Messages contract, checked against Twilio's own OpenAPI description."""

from __future__ import annotations

import json
import re

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.sandbox import create_sandbox, serve_in_thread
from bot.twilio.client import RebasedHttpClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, wait_for

SPEC = ROOT / "tests" / "data" / "messages-openapi.json"
"""Twilio's OpenAPI description of the Messages resource (twilio/twilio-oai; MIT / Apache-2.0)."""


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(SPEC.read_text())


def check_against_schema(resource: dict, spec: dict) -> None:
    """Every field of ``api.v2010.account.message`` present, of its type, nullable only where allowed."""
    schemas = spec["components"]["schemas"]
    schema = schemas["api.v2010.account.message"]
    assert set(resource) == set(schema["properties"]), set(resource) ^ set(schema["properties"])
    for name, prop in schema["properties"].items():
        value = resource[name]
        if "$ref" in prop:
            prop = schemas[prop["$ref"].rsplit("/", 1)[1]]
        if value is None:
            assert prop.get("nullable", "$ref" in schema["properties"][name]), f"{name} may not be null"
            continue
        expected = {"string": str, "integer": int, "object": dict}[prop["type"]]
        assert isinstance(value, expected), f"{name}: {value!r} is not {prop['type']}"
        if "enum" in prop:
            assert value in prop["enum"], f"{name}: {value!r} not in enum"
        if "pattern" in prop:
            assert re.match(prop["pattern"], value), f"{name}: {value!r} !~ {prop['pattern']}"


@pytest.fixture(scope="module")
def twin():
    """A sandbox of its own, with a webhook receiver that records signed callbacks."""
    from flask import Flask, request

    received: list[tuple[str, dict, str]] = []
    hook = Flask("receiver")

    @hook.post("/<path:path>")
    def record(path):
        received.append((request.url, request.form.to_dict(), request.headers.get("X-Twilio-Signature", "")))
        return "", 204

    hook_server, hook_url = serve_in_thread(hook)
    app = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, webhook_url=f"{hook_url}/inbound")
    server, url = serve_in_thread(app)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(url, timeout=10))
    yield client, url, hook_url, received
    server.shutdown()
    hook_server.shutdown()


def test_create_fetch_and_list_answer_in_twilios_shape(twin, spec):
    client, url, hook_url, _ = twin
    created = client.messages.create(to="+17205550001", from_="+15005550006", body="Hello ✓",
                                     status_callback=f"{hook_url}/status")
    assert created.sid.startswith("SM") and created.status == "queued" and created.num_segments == "1"
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    raw = requests.get(f"{url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{created.sid}.json", auth=auth, timeout=5)
    check_against_schema(raw.json(), spec)
    listed = client.messages.list(to="+17205550001")
    assert [m.sid for m in listed] == [created.sid]
    for row in requests.get(f"{url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", auth=auth,
                            timeout=5).json()["messages"]:
        check_against_schema(row, spec)


def test_status_callbacks_are_signed_and_progress(twin):
    client, _, hook_url, received = twin
    message = client.messages.create(to="+17205550002", from_="+15005550006", body="hi",
                                     status_callback=f"{hook_url}/status")
    mine = lambda: [r for r in received if r[1].get("MessageSid") == message.sid]  # noqa: E731
    wait_for(lambda: len(mine()) == 2, what="two status callbacks")
    assert [r[1]["MessageStatus"] for r in mine()] == ["sent", "delivered"]
    validator = RequestValidator(AUTH_TOKEN)
    assert all(validator.validate(url, form, sig) for url, form, sig in mine())
    assert client.messages(message.sid).fetch().status == "delivered"


def test_bad_credentials_and_missing_fields_get_twilio_errors(twin):
    client, url, _, _ = twin
    stranger = Client(ACCOUNT_SID, "wrong-token", http_client=RebasedHttpClient(url, timeout=5))
    with pytest.raises(TwilioRestException) as exc:
        stranger.messages.create(to="+17205550003", from_="+15005550006", body="hi")
    assert (exc.value.status, exc.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="+17205550003", from_="+15005550006")
    assert exc.value.code == 21602
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to="12345", from_="+15005550006", body="hi")
    assert exc.value.code == 21211


def test_opted_out_number_is_refused_with_21610_until_start(twin):
    client, url, _, received = twin
    number = "+17205550004"
    requests.post(f"{url}/sandbox/inbound", data={"From": number, "To": "+15005550006", "Body": "stop"}, timeout=5)
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=number, from_="+15005550006", body="hi")
    assert (exc.value.status, exc.value.code) == (400, 21610)
    requests.post(f"{url}/sandbox/inbound", data={"From": number, "To": "+15005550006", "Body": "START"}, timeout=5)
    assert client.messages.create(to=number, from_="+15005550006", body="hi").status == "queued"
    inbound = [r for r in received if r[1].get("From") == number]
    assert [r[1]["Body"] for r in inbound] == ["stop", "START"]  # delivered to the webhook, signed
    assert all(RequestValidator(AUTH_TOKEN).validate(u, f, s) for u, f, s in inbound)


def test_whatsapp_free_form_outside_24_hours_fails_with_63016_but_a_template_goes(twin):
    client, url, _, _ = twin
    to = "whatsapp:+17205550005"
    cold = client.messages.create(to=to, from_="whatsapp:+14155238886", body="hello")
    wait_for(lambda: client.messages(cold.sid).fetch().status == "failed", what="63016 failure")
    assert client.messages(cold.sid).fetch().error_code == 63016
    template = client.messages.create(to=to, from_="whatsapp:+14155238886", content_sid="HX" + "0" * 32,
                                      content_variables=json.dumps({"1": "Ann"}))
    wait_for(lambda: client.messages(template.sid).fetch().status == "delivered", what="template delivered")
    requests.post(f"{url}/sandbox/inbound", data={"From": to, "To": "whatsapp:+14155238886", "Body": "hi"}, timeout=5)
    warm = client.messages.create(to=to, from_="whatsapp:+14155238886", body="inside the window")
    wait_for(lambda: client.messages(warm.sid).fetch().status == "delivered", what="in-window delivery")
    requests.post(f"{url}/sandbox/clock", data={"advance_s": 25 * 3600}, timeout=5)
    late = client.messages.create(to=to, from_="whatsapp:+14155238886", body="a day later")
    wait_for(lambda: client.messages(late.sid).fetch().error_code == 63016, what="window closed")


def test_the_phone_posts_a_tap_as_twilio_does(twin):
    _, url, _, received = twin
    sender, to = "whatsapp:+17205550006", "whatsapp:+14155238886"
    taps = [{"ButtonPayload": "is_owner:yes", "ButtonText": "Yes"}, {"ListId": "roof_type:metal", "Body": "Metal"},
            {"Body": "typed"}]
    for tap in taps:
        requests.post(f"{url}/sandbox/inbound", data={"From": sender, "To": to, **tap}, timeout=5).raise_for_status()
    forms = [form for _, form, _ in received if form.get("From") == sender]
    assert [(f["Body"], f["MessageType"], f.get("ButtonPayload"), f.get("ButtonText"), f.get("ListId"),
             f.get("ListTitle")) for f in forms] == [
        ("Yes", "button", "is_owner:yes", "Yes", None, None),  # the button's title is the text
        ("Metal", "interactive", None, None, "roof_type:metal", "Metal"),
        ("typed", "text", None, None, None, None)]
    assert all(RequestValidator(AUTH_TOKEN).validate(u, f, s) for u, f, s in received if f.get("From") == sender)
    requests.post(f"{url}/sandbox/inbound", data={"From": "+17205550006", "To": "+15005550006", "Body": "1",
                                                  "ButtonPayload": "x"}, timeout=5)
    sms = [form for _, form, _ in received if form.get("From") == "+17205550006"][-1]
    assert "MessageType" not in sms and "ButtonPayload" not in sms  # taps are WhatsApp's
