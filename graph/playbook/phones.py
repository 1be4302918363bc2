"""Phone numbers as the playbook and the rest of Leadline store them: E.164."""

from __future__ import annotations

import re

import phonenumbers

_PHONE_CHARACTERS = re.compile(r"[0-9 +\-.()]+")
"""What a phone number may be written with: ASCII digits, spaces, ``+ - . ( )``."""


def to_e164(raw: object, region: str = "US") -> str:
    """Normalise a phone number to E.164 (``+13035550142``) with phonenumbers.

    Only ASCII digits, spaces and ``+ - . ( )`` are allowed, checked before phonenumbers reads it: phonenumbers
    would read letters as a keypad (``+1619555ABCD`` is ``+16195552223``) and skip a prefix such as
    ``whatsapp:``, so a number someone spelt, or an address of another channel, would reach the wrong person.

    Args:
        raw: the number as written; anything but a string is refused like bad text (callers pass what they
            were sent).
        region: ISO 3166 country whose national format a number without ``+`` is read in.

    Raises:
        ValueError: the text has other characters, or is not a valid phone number.
    """
    if not isinstance(raw, str) or not _PHONE_CHARACTERS.fullmatch(raw.strip()):
        raise ValueError("not a phone number: only digits, spaces and + - . ( ) are allowed")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
