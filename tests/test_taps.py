"""WhatsApp answers by tapping, end to end: synced templates → a question sent with its buttons → the prospect
taps → the webhook stores the tap → the turn takes it; SMS keeps numbered text; the terminal chat taps by number."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
from redis import Redis
from sqlalchemy import select
from twilio.rest import Client

from bot.chat import ChatSession, Shown, run, tap_fields
from bot.delivery.buttons import sync
from bot.twilio.client import RebasedHttpClient
from store.models import Lead, Message
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SMS_FROM,
    WHATSAPP_FROM,
    Prospect,
    Stack,
    fresh_database,
    make_playbook,
    wait_for,
)
from tests.test_cadence import redis_db

SERVICE_BUTTONS = [{"id": "service_type:repair", "title": "Leak or repair"},
                   {"id": "service_type:replacement", "title": "Full replacement"},
                   {"id": "service_type:inspection", "title": "Inspection"}]


@pytest.fixture(scope="module")
def taps(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Any:
    """A stack of its own (its templates must not reach other tests' WhatsApp prospects), synced."""
    tmp = tmp_path_factory.mktemp("taps")
    url = redis_db(redis_url, 14)
    Redis.from_url(url).flushdb()
    stack = Stack(tmp, database_url=fresh_database(tmp, "_taps"), redis_url=url, playbook=make_playbook(tmp),
                  queue_name="taps-tests")
    report = sync(stack.sessions, stack.runtime.twilio.client, stack.runtime.playbook)
    assert report.created == 6
    yield stack
    stack.close()


def outbound_rows(stack: Stack, phone: str) -> list[Message]:
    with stack.sessions() as s:
        return list(s.scalars(select(Message).join(Lead).where(Lead.phone == phone, Message.direction == "outbound")
                              .order_by(Message.id)))


def lead(stack: Stack, phone: str) -> Lead:
    with stack.sessions() as s:
        return s.scalars(select(Lead).where(Lead.phone == phone)).one()


def tap(p: Prospect, button: dict[str, str], *, body: str | None = None) -> None:
    """The prospect taps ``button`` (``body``: what the message's text says, the title unless given)."""
    p.say(body if body is not None else button["title"], button_payload=button["id"])


class TappingProspect(Prospect):
    """A prospect whose phone can also tap a button."""

    def say(self, body: str, *, message_sid: str | None = None, button_payload: str | None = None) -> dict[str, Any]:
        if button_payload is None:
            return super().say(body, message_sid=message_sid)
        form = {"From": self.address, "To": self.business, "Body": body, "ButtonPayload": button_payload}
        answer = requests.post(f"{self.sandbox.url}/sandbox/inbound", data=form, timeout=20)
        answer.raise_for_status()
        assert answer.json()["webhook_status"] == 200, answer.json()
        return answer.json()


def test_a_whatsapp_question_goes_with_its_buttons_and_the_text_in_its_variable(taps, phone):
    p = TappingProspect(taps.sandbox, phone(), whatsapp=True, name="Ann")
    p.say("hi")
    greeting, question = wait_for(lambda: len(r := p.received()) >= 2 and r, what="greeting and question")
    assert greeting["content_sid"] is None and greeting["buttons"] == []  # only the question has buttons
    assert question["content_sid"].startswith("HX") and question["content_type"] == "twilio/quick-reply"
    assert question["body"].startswith("What do you need? Reply 1 for a leak or repair")
    assert json.loads(question["content_variables"]) == {"1": question["body"]}
    assert question["buttons"] == SERVICE_BUTTONS
    assert all(m["from"] == WHATSAPP_FROM for m in (greeting, question))
    rows = outbound_rows(taps, p.number)
    assert [r.content_sid for r in rows] == [None, question["content_sid"]]
    assert rows[1].body == question["body"] and rows[1].content_variables == {"1": question["body"]}


def test_a_tap_is_stored_and_the_conversation_moves_on_with_the_next_buttons(taps, phone):
    p = TappingProspect(taps.sandbox, phone(), whatsapp=True)
    p.say("hi")
    p.wait_for_replies(2)
    tap(p, SERVICE_BUTTONS[1])
    nxt = wait_for(lambda: len(r := p.received()) >= 3 and r[2], what="the next question")
    assert nxt["body"].startswith("How soon do you need it?")
    assert [b["id"] for b in nxt["buttons"]] == ["urgency:now", "urgency:month", "urgency:planning"]
    assert lead(taps, p.number).answers == {"service_type": "replacement"}
    with taps.sessions() as s:
        inbound = s.scalars(select(Message).where(Message.from_address == p.address, Message.direction == "inbound")
                            .order_by(Message.id)).all()
    assert [(m.body, m.tapped) for m in inbound] == [("hi", None), ("Full replacement", "service_type:replacement")]


def test_the_tapped_button_is_the_exact_answer_whatever_the_text_says(taps, phone):
    p = TappingProspect(taps.sandbox, phone(), whatsapp=True)
    p.say("hi")
    p.wait_for_replies(2)
    tap(p, SERVICE_BUTTONS[2], body="Leak or repair")  # the text reads as a repair; the tap says inspection
    nxt = wait_for(lambda: len(r := p.received()) >= 3 and r[2], what="the next question")
    assert lead(taps, p.number).answers == {"service_type": "inspection"}
    assert nxt["body"].startswith("How soon do you need it?")


def test_an_sms_prospect_gets_plain_numbered_text(taps, phone):
    p = Prospect(taps.sandbox, phone())
    p.say("hi")
    _, question = wait_for(lambda: len(r := p.received()) >= 2 and r, what="greeting and question")
    assert question["content_sid"] is None and question["buttons"] == [] and question["from"] == SMS_FROM
    assert "Reply 1 for a leak or repair, 2 for a full replacement, 3 for an inspection" in question["body"]
    assert all(r.content_sid is None for r in outbound_rows(taps, p.number))


def chat(stack: Stack, number: str, lines: str) -> str:
    """The terminal chat over WhatsApp (``make run ARGS="--whatsapp"``) fed ``lines``; what it printed."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(stack.sandbox.url, timeout=10))
    session = ChatSession(client, stack.sandbox.url, prospect=f"whatsapp:{number}", business=WHATSAPP_FROM)
    out = io.StringIO()
    run(session, io.StringIO(lines), out)
    return out.getvalue()


def test_the_chat_prints_buttons_as_numbered_lines_and_a_typed_number_taps_one(taps, phone):
    number = phone()
    printed = chat(taps, number, "hi\n2\n1\n80203\n")
    assert ("bot> What do you need? Reply 1 for a leak or repair, 2 for a full replacement, 3 for an inspection.\n"
            "  1. Leak or repair\n  2. Full replacement\n  3. Inspection\n") in printed
    assert "  1. Right away\n  2. Within a month\n  3. Just planning\n" in printed
    assert "bot> What's the ZIP code of the property?\nyou> 80203" in printed  # no buttons: nothing numbered
    assert "bot> Are you the property owner? (yes/no)\n  1. Yes\n  2. No\n" in printed
    with taps.sessions() as s:
        tapped = s.scalars(select(Message.tapped).where(Message.from_address == f"whatsapp:{number}",
                                                        Message.direction == "inbound").order_by(Message.id)).all()
    assert tapped == [None, "service_type:replacement", "urgency:now", None]
    assert lead(taps, number).answers == {"service_type": "replacement", "urgency": "now", "postal_code": "80203"}


def test_a_number_taps_only_a_button_the_latest_message_offers():
    roofs = Shown("whatsapp:+17205550999", "Which roof?", [{"id": "roof:metal", "title": "Metal"},
                                                           {"id": "roof:tile", "title": "Tile"}], "twilio/list-picker")
    assert tap_fields("2", roofs) == {"Body": "Tile", "ListId": "roof:tile", "ListTitle": "Tile"}
    owner = Shown("whatsapp:+17205550999", "Own it?", [{"id": "is_owner:yes", "title": "Yes"}], "twilio/quick-reply")
    assert tap_fields("1", owner) == {"Body": "Yes", "ButtonPayload": "is_owner:yes", "ButtonText": "Yes"}
    assert tap_fields("3", roofs) == tap_fields("0", roofs) == tap_fields("one", owner) == {}  # typed text
    assert tap_fields("1", None) == {}  # the latest message offers no buttons
