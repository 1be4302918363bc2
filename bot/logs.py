"""Logging set-up with phone numbers masked: ``+13035550143`` is logged as ``+1303•••0143``."""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"\+\d{8,15}\b")


def mask_phones(text: str) -> str:
    """Mask the middle digits of every E.164 number in ``text`` (data minimisation in logs)."""
    return _PHONE.sub(lambda m: m.group(0)[:5] + "•" * (len(m.group(0)) - 9) + m.group(0)[-4:], text)


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks phone numbers in the whole line, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


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
