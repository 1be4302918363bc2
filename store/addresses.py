"""Twilio addresses: a number in E.164 on SMS (``+13035550100``), ``whatsapp:`` and the number on WhatsApp
(Twilio's WhatsApp addressing). Built and read here only."""

from __future__ import annotations

WHATSAPP_PREFIX = "whatsapp:"


def address_for(phone: str, channel: str) -> str:
    """The Twilio address of E.164 ``phone`` on ``channel`` (``sms`` or ``whatsapp``)."""
    return f"{WHATSAPP_PREFIX}{phone}" if channel == "whatsapp" else phone


def channel_of(address: str) -> str:
    """``whatsapp`` or ``sms``, by the address's form."""
    return "whatsapp" if address.startswith(WHATSAPP_PREFIX) else "sms"


def phone_of(address: str) -> str:
    """The number an address names, without the channel."""
    return address.removeprefix(WHATSAPP_PREFIX)


def every_address(phone: str) -> list[str]:
    """Every address a number can write from or be written to: SMS and WhatsApp."""
    return [phone, address_for(phone, "whatsapp")]
