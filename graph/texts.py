"""Rendering the owner's texts: placeholders filled, booking links personalised."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from graph.playbook import Playbook


class _Blank(dict[str, str]):
    """Unknown placeholders render as an empty string instead of raising (the playbook was validated)."""

    def __missing__(self, key: str) -> str:
        return ""


def display(value: Any) -> str:
    """An answer as a person would read it: yes/no for booleans, no trailing .0 on whole numbers."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return "" if value is None else str(value)


def render(template: str, **values: Any) -> str:
    """Fill ``{placeholders}`` in an owner's text; missing ones become empty.

    Punctuation left stranded by an empty placeholder is tidied: ``"Hi {name}!"`` with no
    name reads ``"Hi!"`` and ``"Again, {name}: …"`` reads ``"Again: …"``.
    """
    text = template.format_map(_Blank({k: display(v) for k, v in values.items()}))
    text = re.sub(r"[ \t]+([!?.,:;])", r"\1", text)
    text = re.sub(r",([!?.:;])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    stripped = re.sub(r"^[\s,]+", "", text)
    if stripped != text:  # the text began with the empty placeholder: start the sentence anew
        stripped = stripped[:1].upper() + stripped[1:]
    return stripped.rstrip()


def booking_link(base_url: str, *, name: str | None, phone: str, lead_ref: str) -> str:
    """The booking URL with the lead's name, phone and a ``utm_content`` lead reference added.

    Calendly pre-fills ``name`` and hands back ``utm_*`` parameters on its webhooks, which
    is how a booking is matched to the lead later. Existing query parameters are kept.
    """
    parts = urlsplit(base_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    extra = {"phone": phone, "utm_source": "leadline", "utm_content": lead_ref}
    if name:
        extra["name"] = name
    query = [(k, v) for k, v in query if k not in extra] + sorted(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def placeholders_for(playbook: Playbook, *, name: str | None, phone: str, lead_ref: str,
                     answers: dict[str, Any]) -> dict[str, Any]:
    """Every placeholder value a text may use for this lead."""
    return {
        **{q.id: answers.get(q.id) for q in playbook.questions},
        "name": name or playbook.business.fallback_name,
        "phone": phone,
        "business": playbook.business.name,
        "booking_url": booking_link(playbook.outcomes.qualified.booking_url, name=name, phone=phone,
                                    lead_ref=lead_ref),
        "resource_url": playbook.outcomes.nurture.resource_url,
    }
