"""Bounds on numbers and instants from outside, checked before they reach Python arithmetic or the database.

Every integer a request carries (a lead id in a URL or an SMS command, a page number, Twilio's
``ErrorCode``, the ``lead-<id>`` a booking link hands back) and every instant (a capture's
``received_at``, a report's ``since``/``until``) goes through one of these, so that no view
repeats its own check and none forgets it. Out of bounds is a :class:`ValueError` (the caller
answers 4xx or re-asks), never an ``OverflowError`` from ``datetime`` arithmetic or a database
error from a value its column cannot hold.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

MAX_ID = 2**31 - 1
"""Largest row id: ids are ``INTEGER`` columns (32-bit signed on Postgres)."""

MAX_COUNT = 2**31 - 1
"""Largest count or code stored in an ``INTEGER`` column (Twilio error codes are 5 digits)."""

MAX_DIGITS = 10
"""Longest run of digits read as a number: more cannot fit :data:`MAX_ID`, and is refused before ``int()``."""

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
"""Instants from outside must lie in ``[EARLIEST, LATEST)`` (UTC): anything else is a typo or an attack, and
near year 1 or 9999 a time zone or a cadence delay overflows ``datetime``."""

_DIGITS = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS)


def bounded_int(text: str | int | None, *, low: int = 0, high: int = MAX_COUNT) -> int:
    """``text`` as an int in ``[low, high]``: ASCII digits only (``"²"`` and ``"٣"`` are refused), at most
    :data:`MAX_DIGITS` of them.

    Raises:
        ValueError: not such a number, or out of range.
    """
    if isinstance(text, bool):
        raise ValueError("expected a whole number")
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and _DIGITS.fullmatch(text.strip()):
        value = int(text.strip())
    else:
        raise ValueError(f"expected a whole number of at most {MAX_DIGITS} digits")
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def row_id(text: str | int | None) -> int:
    """A row id (1 to :data:`MAX_ID`) from a URL, a form or a text message.

    Raises:
        ValueError: not a whole number in that range.
    """
    return bounded_int(text, low=1, high=MAX_ID)


def optional_int(text: str | None, *, low: int = 0, high: int = MAX_COUNT) -> int | None:
    """Like :func:`bounded_int`, but None for a missing, empty or unreadable value (a field that is only a hint,
    such as a status callback's ``ErrorCode``)."""
    try:
        return bounded_int(text, low=low, high=high) if text not in (None, "") else None
    except ValueError:
        return None


def bounded_instant(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime within ``[EARLIEST, LATEST)``; a naive one is taken as UTC.

    Raises:
        ValueError: outside that range (including one a zone offset pushes past ``datetime``'s own limits).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return utc


def unix_seconds(text: str) -> int:
    """A Unix timestamp in whole seconds (ASCII digits, e.g. a webhook signature's ``t=``) within
    ``[EARLIEST, LATEST)``.

    Raises:
        ValueError: not ASCII digits, more than :data:`MAX_DIGITS` of them, or out of that range.
    """
    return bounded_int(text, low=int(EARLIEST.timestamp()), high=int(LATEST.timestamp()) - 1)


def parse_instant(text: str) -> datetime:
    """ISO 8601 date or date-time → aware UTC datetime within bounds (naive means UTC).

    Raises:
        ValueError: not ISO 8601, or outside ``[EARLIEST, LATEST)``.
    """
    if len(text) > 64:
        raise ValueError("expected ISO 8601")
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return bounded_instant(value)


BoundedInstant = Annotated[AwareDatetime, AfterValidator(bounded_instant)]
"""A pydantic field type: an ISO 8601 date-time with a zone, within ``[EARLIEST, LATEST)``, as UTC. Out of bounds
is a validation error on the field (``received_at: Value error, must be between 1970-01-01 and 2200-01-01``)."""
