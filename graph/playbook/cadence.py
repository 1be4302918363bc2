"""The playbook's follow-up cadence: durations, clock times, quiet hours, call window and steps."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from graph.playbook.base import Identifier, Model

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as the playbook writes them, Monday first (index = ``datetime.weekday()``)."""


def parse_duration(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"3d"`` → seconds.

    Raises:
        ValueError: not a number followed by one of s, m, h, d.
    """
    match = DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 1h or 3d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_clock(text: str) -> tuple[int, int]:
    """``"21:00"`` → ``(21, 0)``: hour 0–23 and minute 0–59 of a 24-hour clock.

    Raises:
        ValueError: not ``H:MM`` or ``HH:MM`` on a 24-hour clock.
    """
    match = _CLOCK.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 08:00 or 21:30")
    return int(match.group(1)), int(match.group(2))


class TimeRange(Model):
    """A daily span in local time; ``start`` after ``end`` wraps past midnight (21:00–08:00)."""

    start: str
    """``HH:MM``, 24-hour clock (checked with :func:`parse_clock`)."""
    end: str
    """``HH:MM``, 24-hour clock; equal to ``start`` means an empty span."""

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class CallWindow(TimeRange):
    """When reps are asked to call: these hours on these weekdays, in the lead's local time."""

    days: list[Weekday] = Field(min_length=1)


class Template(Model):
    """An approved WhatsApp content template: ``ContentSid`` (``HX…``) and its variables (placeholders allowed)."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: dict[str, str] = {}
    """Template variable (``"1"``, ``"2"``…) → its text, rendered like any owner text."""


class Step(Model):
    """One follow-up touch, ``after`` the lead's capture (scaled by CADENCE_SECONDS_PER_DAY)."""

    id: Identifier
    after: str
    """A duration like ``1d`` (checked with :func:`parse_duration`)."""
    text: str
    whatsapp_template: Template | None = None
    """Sent instead of ``text`` on WhatsApp outside the 24-hour window; without one the step is skipped there."""

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def after_s(self) -> float:
        """``after`` in seconds (unscaled)."""
        return parse_duration(self.after)


class Cadence(Model):
    """Follow-up touches for leads that go quiet (the seeds' day 1, 3, 7, 14 and day-60 reactivation)."""

    quiet_hours: TimeRange = TimeRange(start="21:00", end="08:00")
    """No touch goes out in these hours of the lead's local time (TCPA: 8 am to 9 pm)."""
    call_window: CallWindow = CallWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")
    """When reps are alerted to call hot leads, in the lead's local time."""
    stall_after: str = "1h"
    """A lead silent this long mid-qualification is enrolled."""
    first_touch_template: Template | None = None
    """The business-initiated WhatsApp first touch (WhatsApp allows only templates outside the 24-hour window)."""
    steps: list[Step] = []
    """In order of ``after``, ids unique."""

    @field_validator("stall_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Cadence:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        afters = [s.after_s for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of 'after'")
        return self

    @property
    def stall_after_s(self) -> float:
        """``stall_after`` in seconds (unscaled)."""
        return parse_duration(self.stall_after)
