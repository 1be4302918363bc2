"""Checks a model-written message must pass before it may be sent. Pure.

A draft is sent only if it is not empty, fits the channel, carries no link other than
the playbook's own, has no placeholder left, and invents no phone number. A draft that
fails any of them is dropped and the playbook's text is sent instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.playbook import Playbook

MAX_CHARS = {"sms": 320, "whatsapp": 1024}
"""Longest draft per channel, characters: two SMS segments (Twilio splits longer texts and bills per
segment); WhatsApp's 1,024 is the body limit of a template message."""

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"')\]]+", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|\[(?:[A-Z][A-Za-z _]*|name|first name|link)\]|<[A-Za-z _]+>")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")


def urls_in(texts: Iterable[str]) -> set[str]:
    """Every link written in ``texts`` (the playbook's), without trailing punctuation."""
    return {u.rstrip(".,;:!?") for text in texts for u in _URL.findall(text)}


def playbook_urls(playbook: "Playbook") -> set[str]:
    """Every link the owner's playbook gives: the booking and resource URLs and any link in its texts."""
    outcomes = playbook.outcomes
    return urls_in([t for _, t in playbook.texts()]) | {
        outcomes.qualified.booking_url, outcomes.nurture.resource_url, outcomes.disqualified.resource_url}


def digits_in(texts: Iterable[str]) -> set[str]:
    """The digits of every phone number written in ``texts``."""
    return {re.sub(r"\D", "", p) for text in texts for p in _PHONE.findall(text)}


def check_draft(text: str, *, channel: str, allowed_urls: set[str], allowed_numbers: set[str]) -> str | None:
    """None when ``text`` may be sent; else the reason it may not.

    ``allowed_urls``: links the draft may carry (a link must start with one of them);
    ``allowed_numbers``: digits of phone numbers it may mention (the business's own).
    """
    body = text.strip()
    if not body:
        return "empty"
    limit = MAX_CHARS.get(channel, MAX_CHARS["sms"])
    if len(body) > limit:
        return f"too long ({len(body)} > {limit} characters)"
    if _PLACEHOLDER.search(body):
        return "placeholder left in the text"
    for url in _URL.findall(body):
        url = url.rstrip(".,;:!?")
        if not any(url.startswith(allowed) for allowed in allowed_urls):
            return f"link not in the playbook: {url[:60]}"
    for number in _PHONE.findall(body):
        digits = re.sub(r"\D", "", number)
        if len(digits) >= 7 and not any(digits.endswith(ok[-10:]) or ok.endswith(digits) for ok in allowed_numbers):
            return "phone number not in the playbook"
    return None
