"""Twilio's Content API: WhatsApp templates whose answers the recipient taps, created with the twilio client.

A :class:`ContentTemplate` is one template's whole definition: a name, a language, a body that is one variable
(``{{1}}``: the sender fills in the text of each message, so a hint or a confirmation before the question fits)
with its sample value, and the answers, as ``twilio/quick-reply`` buttons or a ``twilio/list-picker`` menu, with a
``twilio/text`` fallback for channels that show neither. Its :attr:`~ContentTemplate.fingerprint` (SHA-256 of the
definition) names it: Twilio's templates are not edited once made, so a changed definition is a new template.

Sources (Twilio docs): the Content resource, ``POST https://content.twilio.com/v1/Content`` with a JSON body
(https://www.twilio.com/docs/content/content-api-resources); ``twilio/quick-reply`` (1–10 actions, of which a
WhatsApp session message without approval shows 3; a title is at most 20 characters, an id 200:
https://www.twilio.com/docs/content/twilio-quick-reply); ``twilio/list-picker`` (a ``button``, 1–10 items; an
item is at most 24 characters, its id 200, its description 72; a body 1,024:
https://www.twilio.com/docs/content/twiliolist-picker). A tapped button comes back on the inbound webhook as
``ButtonPayload`` (a list item as ``ListId``), the id given here. The request is built with the twilio package's
own models (``twilio.rest.content.v1.content.ContentList``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentInstance, ContentList

from bot.errors import ContentRefused

Layout = Literal["quick_reply", "list_picker"]

TEXT, QUICK_REPLY, LIST_PICKER = "twilio/text", "twilio/quick-reply", "twilio/list-picker"
"""The content types a template carries (keys of the Content resource's ``types``)."""
BODY = "{{1}}"
"""Every template's body: the one variable the sender fills with the message's text (``ContentVariables``)."""
ID_MAX = 200
"""Longest id of a quick-reply action or a list item, characters; the inbound ``ButtonPayload``/``ListId`` too."""
DESCRIPTION_MAX = 72
"""Longest description of a list item, characters."""


@dataclass(frozen=True)
class Choice:
    """One answer to tap: ``id`` comes back as ``ButtonPayload`` (or ``ListId``), ``title`` is shown; a list item
    also shows ``description`` under its title."""

    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class ContentTemplate:
    """A template with tappable answers, as the Content API defines one."""

    name: str
    """Stable part of the friendly name, e.g. ``leadline_service_type_en`` (lowercase, digits, underscores)."""
    language: str
    """ISO 639-1 code of the texts (``en``, ``es``)."""
    sample: str
    """Sample value of ``{{1}}``: the text the message usually carries (WhatsApp reviews templates with it)."""
    layout: Layout
    choices: tuple[Choice, ...]
    picker_button: str = "Choose"
    """The list picker's button, which opens its menu (unused by quick replies)."""

    def definition(self) -> dict[str, Any]:
        """The Content resource's ``language``, ``variables`` and ``types`` as JSON values (no friendly name)."""
        types: dict[str, Any] = {TEXT: {"body": BODY}}
        if self.layout == "quick_reply":
            types[QUICK_REPLY] = {"body": BODY, "actions": [
                {"type": ContentInstance.QuickReplyActionType.QUICK_REPLY, "title": c.title, "id": c.id}
                for c in self.choices]}
        else:
            types[LIST_PICKER] = {"body": BODY, "button": self.picker_button, "items": [
                {"id": c.id, "item": c.title, "description": c.description[:DESCRIPTION_MAX]} for c in self.choices]}
        return {"language": self.language, "variables": {"1": self.sample}, "types": types}

    @property
    def fingerprint(self) -> str:
        """SHA-256 (64 hex digits) of the name and :meth:`definition`, in canonical JSON: equal for the same
        template, different when a text, a title, an id, the layout or the language changes."""
        canonical = json.dumps({"name": self.name, **self.definition()}, sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def friendly_name(self) -> str:
        """The name Twilio lists it by: :attr:`name` and the start of the fingerprint, so each version differs."""
        return f"{self.name}_{self.fingerprint[:12]}"

    def create_request(self) -> ContentList.ContentCreateRequest:
        """The twilio client's create request (its models take the JSON shapes and build the typed parts)."""
        return ContentList.ContentCreateRequest({"friendly_name": self.friendly_name, **self.definition()})


def create_content(client: Client, template: ContentTemplate) -> str:
    """Create ``template`` at Twilio (``client.content.v1.contents.create``); returns its SID (``HX…``).

    Raises:
        ContentRefused: Twilio answered with an error (its code and message kept), or could not be reached.
    """
    try:
        created = client.content.v1.contents.create(template.create_request())
    except TwilioRestException as exc:
        raise ContentRefused(f"{template.friendly_name}: {exc.msg}", code=exc.code, status=exc.status) from None
    except requests.exceptions.RequestException as exc:
        raise ContentRefused(f"{template.friendly_name}: Twilio could not be reached ({exc})") from None
    if not created.sid:
        raise ContentRefused(f"{template.friendly_name}: Twilio's answer has no sid")
    return created.sid


def content_exists(client: Client, sid: str) -> bool:
    """Whether Twilio still has the template ``sid`` (``client.content.v1.contents(sid).fetch()``; 404: no).

    Raises:
        ContentRefused: Twilio answered with another error, or could not be reached.
    """
    try:
        client.content.v1.contents(sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise ContentRefused(f"{sid}: {exc.msg}", code=exc.code, status=exc.status) from None
    except requests.exceptions.RequestException as exc:
        raise ContentRefused(f"{sid}: Twilio could not be reached ({exc})") from None
    return True
