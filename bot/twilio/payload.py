"""Twilio's message webhook forms (an inbound message, a status callback), as typed values.

Field names follow Twilio's webhook request parameters
(https://www.twilio.com/docs/messaging/guides/webhook-request); Twilio may add more, which are ignored. A WhatsApp
reply made by tapping carries the tapped answer's id as well as its title (in ``Body``): ``ButtonPayload`` for a
quick-reply button, ``ListId`` for a list-picker item (https://www.twilio.com/docs/whatsapp/buttons,
https://www.twilio.com/docs/content/twiliolist-picker).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.playbook import to_e164
from store.addresses import address_for, channel_of, phone_of
from store.bounds import bounded_int, optional_int

MESSAGE_SID = r"^[A-Z]{2}[0-9a-fA-F]{32}$"
"""A Message SID: two letters (``SM``, ``MM``) and 32 hex digits (Twilio's Messages OpenAPI, ``sid`` pattern)."""
MAX_MEDIA = 10
"""Most media one message carries (Twilio's limit for MMS)."""
TAP_ID_MAX = 200
"""Longest ``ButtonPayload`` / ``ListId``: the Content API's limit on a quick-reply action's or list item's id."""


class InboundMessage(BaseModel):
    """One message from a prospect, SMS or WhatsApp.

    Raises (on construction):
        pydantic.ValidationError: a required field is missing or ``From`` is not a phone number;
            each error's ``loc`` is the Twilio parameter name.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    message_sid: str = Field(alias="MessageSid", pattern=MESSAGE_SID)
    account_sid: str = Field(alias="AccountSid", min_length=2)
    from_address: str = Field(alias="From", min_length=1)
    to_address: str = Field(alias="To", min_length=1, max_length=64)
    body: str = Field(default="", alias="Body")
    profile_name: str | None = Field(default=None, alias="ProfileName")
    wa_id: str | None = Field(default=None, alias="WaId")
    messaging_service_sid: str | None = Field(default=None, alias="MessagingServiceSid", max_length=34)
    num_media: int = Field(default=0, alias="NumMedia", ge=0, le=MAX_MEDIA)
    button_payload: str | None = Field(default=None, alias="ButtonPayload", max_length=TAP_ID_MAX)
    list_id: str | None = Field(default=None, alias="ListId", max_length=TAP_ID_MAX)
    media_urls: list[str] = []
    media_types: list[str] = []

    @field_validator("profile_name")
    @classmethod
    def _short_name(cls, value: str | None) -> str | None:
        """A WhatsApp profile name is a display name: kept to its first 100 characters, never a reason to refuse."""
        return value[:100] if value else value

    @field_validator("from_address")
    @classmethod
    def _phone(cls, value: str) -> str:
        to_e164(phone_of(value))  # raises ValueError with the reason
        return value

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> InboundMessage:
        """Build from the webhook's form fields (``MediaUrl0``… gathered into lists)."""
        data = dict(form.items())
        try:
            count = bounded_int(data.get("NumMedia") or 0, high=MAX_MEDIA)
        except ValueError:
            count = 0  # the model rejects the bad NumMedia with its field name
        data["media_urls"] = [data[f"MediaUrl{i}"] for i in range(count) if f"MediaUrl{i}" in data]
        data["media_types"] = [data.get(f"MediaContentType{i}", "") for i in range(count)]
        return cls.model_validate(data)

    @property
    def tapped(self) -> str | None:
        """The id of the button or list item the prospect tapped, or None for a typed message."""
        return self.button_payload or self.list_id or None

    @property
    def channel(self) -> str:
        """``whatsapp`` when the sender is a ``whatsapp:`` address, else ``sms``."""
        return channel_of(self.from_address)

    @property
    def phone(self) -> str:
        """The prospect's number, E.164."""
        return to_e164(phone_of(self.from_address))

    @property
    def address(self) -> str:
        """The prospect's canonical Twilio address (``+1…`` or ``whatsapp:+1…``): the conversation's key."""
        return address_for(self.phone, self.channel)


class StatusCallback(BaseModel):
    """A status callback for a message we sent (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).

    ``message_status`` is one of Twilio's message statuses (``queued`` … ``delivered``, ``read``); an unknown one
    is kept as text and moves nothing. ``error_code`` is a hint only: an unreadable one is no code.

    Raises (on construction):
        pydantic.ValidationError: ``MessageSid`` is not a Message SID or ``MessageStatus`` is missing or not a
            status word; each error's ``loc`` is the Twilio parameter name.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    message_sid: str = Field(alias="MessageSid", pattern=MESSAGE_SID)
    message_status: str = Field(alias="MessageStatus", pattern=r"^[a-z_]{1,32}$")
    error_code: int | None = Field(default=None, alias="ErrorCode")

    @field_validator("error_code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> int | None:
        return optional_int(value)
