"""Logging set-up with personal data masked in every line.

* phone numbers: ``+13035550143`` is logged as ``+1303•••0143``;
* email addresses: ``ann.lee@example.com`` as ``a•••@example.com`` (the domain kept, for debugging deliveries);
* the row values Postgres quotes in an error (``DETAIL:  Failing row contains (…)``, ``Key (phone)=(…)``),
  which may hold a name, as ``(…)``. SQLAlchemy's own copy of the bound values is never in a message
  (``store.db.make_engine`` hides them).
"""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"(\+|%2B)(\d{4})(\d{0,7})(\d{4})\b", re.IGNORECASE)
"""An E.164 number, also URL-encoded (``%2B1303…`` in a booking link): ``+``, country and area digits, the
middle (masked), the last four."""
_EMAIL = re.compile(r"([A-Za-z0-9_'-])[A-Za-z0-9._+'-]*(@|%40)((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})\b")
"""An email address, also URL-encoded (``ann%40example.com``). The local part is the characters addresses use in
practice, so that a URL's ``&email=`` or a ``user:pass@`` is not swallowed into it."""
_ROW_VALUES = re.compile(r"(Failing row contains |Key \([^)\n]*\)=)\(.*\)")
"""Postgres error details that quote values: the failing row (NOT NULL, CHECK) and the key (UNIQUE, FOREIGN KEY).
Greedy to the line's last ``)``, as a value may hold parentheses."""


def mask_phones(text: str) -> str:
    """Mask the middle digits of every E.164 number in ``text`` (data minimisation in logs)."""
    return _PHONE.sub(lambda m: m.group(1) + m.group(2) + "•" * len(m.group(3)) + m.group(4), text)


def mask_emails(text: str) -> str:
    """Mask the local part of every email address in ``text`` but its first character: ``a•••@example.com``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}•••{m.group(2)}{m.group(3)}", text)


def mask_row_values(text: str) -> str:
    """Blank the values Postgres quotes in an error detail: ``Key (channel, phone)=(…) already exists.``"""
    return _ROW_VALUES.sub(lambda m: m.group(1) + "(…)", text)


def mask(text: str) -> str:
    """Every masking above, applied to one log line (tracebacks included)."""
    return mask_phones(mask_emails(mask_row_values(text)))


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks phone numbers, emails and quoted row values in the whole line, tracebacks
    included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    """Root logging to stderr through :class:`MaskingFormatter`; idempotent."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, MaskingFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    # The twilio SDK logs every request's headers at INFO; keep its warnings only.
    logging.getLogger("twilio.http_client").setLevel(max(logging.WARNING, root.level))
