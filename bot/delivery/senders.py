"""Which Twilio sender a message goes out from: always one of the business's own."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.businesses import BusinessContext


@dataclass(frozen=True)
class Route:
    """A sender: a ``from`` address or a Messaging Service (SID ``MG…``), never both."""

    from_address: str | None = None
    messaging_service_sid: str | None = None


def reply_route(business: BusinessContext, *, business_address: str) -> Route:
    """Replies go from the number the prospect wrote to (one of ``business``'s, as routing found), or the
    business's Messaging Service when it has one."""
    if business.messaging_service_sid:
        return Route(messaging_service_sid=business.messaging_service_sid)
    return Route(from_address=business_address)


def business_route(business: BusinessContext, *, channel: str) -> Route:
    """Messages the business starts go from its SMS or WhatsApp sender (``TWILIO_SMS_FROM`` /
    ``TWILIO_WHATSAPP_FROM`` for a one-business deployment, the first of ``business.senders`` otherwise).

    Falls back to the Messaging Service; an empty route means nothing is configured and
    the send will fail with that reason.
    """
    address = business.whatsapp_from if channel == "whatsapp" else business.sms_from
    if address:
        return Route(from_address=address)
    return Route(messaging_service_sid=business.messaging_service_sid)
