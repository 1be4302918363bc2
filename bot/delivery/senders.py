"""Which Twilio sender a message goes out from."""

from __future__ import annotations

from dataclasses import dataclass

from settings import Settings


@dataclass(frozen=True)
class Route:
    """A sender: a ``from`` address or a Messaging Service (SID ``MG…``), never both."""

    from_address: str | None = None
    messaging_service_sid: str | None = None


def reply_route(settings: Settings, *, business_address: str) -> Route:
    """Replies go from the number the prospect wrote to, or the Messaging Service when one is set."""
    if settings.twilio_messaging_service_sid:
        return Route(messaging_service_sid=settings.twilio_messaging_service_sid)
    return Route(from_address=business_address)


def business_route(settings: Settings, *, channel: str) -> Route:
    """Messages the business starts go from ``TWILIO_SMS_FROM`` / ``TWILIO_WHATSAPP_FROM``.

    Falls back to the Messaging Service; an empty route means nothing is configured and
    the send will fail with that reason.
    """
    address = settings.twilio_whatsapp_from if channel == "whatsapp" else settings.twilio_sms_from
    if address:
        return Route(from_address=address)
    return Route(messaging_service_sid=settings.twilio_messaging_service_sid)
