"""Which sender a message goes out from: the number written to, a Messaging Service, or the business senders."""

from __future__ import annotations

from sqlalchemy import select

from bot.sandbox import new_sid
from cadence.delivery import deliver
from cadence.runtime import build_runtime
from cadence.turns import handle_inbound
from store.inbound import store_inbound
from store.models import Message, utcnow
from tests.conftest import messages_to

SERVICE = "MG" + "5" * 32


def test_replies_go_through_the_messaging_service_when_one_is_set(settings, sandbox, phone):
    rt = build_runtime(settings.model_copy(update={"twilio_messaging_service_sid": SERVICE,
                                                   "queue_name": "routing-test"}))
    try:
        number = phone()
        with rt.sessions.begin() as s:
            inbound = store_inbound(s, from_address=number, to_address="+15005550007", message_sid=new_sid(),
                                    body="hi", profile_name=None, media=None, received_at=utcnow())
        for outbox_id in handle_inbound(rt, inbound).outbox_ids:
            deliver(rt, outbox_id)
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
        with rt.sessions.begin() as s:
            inbound = store_inbound(s, from_address=number, to_address="+15005550007", message_sid=new_sid(),
                                    body="hi", profile_name=None, media=None, received_at=utcnow())
        for outbox_id in handle_inbound(rt, inbound).outbox_ids:
            deliver(rt, outbox_id)
        # +15005550007 is not TWILIO_SMS_FROM: the reply comes from the number the prospect wrote to
        assert {m["from"] for m in messages_to(sandbox, number)} == {"+15005550007"}
    finally:
        rt.close()
