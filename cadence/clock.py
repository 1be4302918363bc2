"""The lead's clock: local time zone, quiet hours, the call window and scaled cadence durations.

Pure functions of their arguments (``now`` is passed in), so every rule is testable at any hour.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from graph.playbook import WEEKDAYS, CallWindow, TimeRange, parse_clock

WHATSAPP_WINDOW = timedelta(hours=24)
"""WhatsApp Business Platform customer-service window: free-form messages are allowed only within
24 hours of the user's last message (https://developers.facebook.com/docs/whatsapp/pricing#customer-service-windows)."""


def lead_timezone(phone: str, business_timezone: str) -> str:
    """The IANA zone of an E.164 number when phonenumbers knows exactly one, else the business's zone."""
    try:
        zones = phone_timezone.time_zones_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return business_timezone
    known = [z for z in zones if z != phone_timezone.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 else business_timezone


def _within(local: time, span: TimeRange) -> bool:
    start, end = time(*parse_clock(span.start)), time(*parse_clock(span.end))
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # wraps past midnight


def quiet_until(now: datetime, zone: str, quiet: TimeRange) -> datetime | None:
    """None when ``now`` is outside quiet hours in ``zone``; else the UTC instant they end.

    Follows the real wall clock of the zone, daylight-saving changes included.
    """
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if not _within(local.time(), quiet):
        return None
    end = time(*parse_clock(quiet.end))
    candidate = datetime.combine(local.date(), end, tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tz)
    return candidate.astimezone(timezone.utc)


def next_call_opening(now: datetime, zone: str, window: CallWindow) -> datetime:
    """``now`` if it is inside the call window in ``zone``, else the UTC instant the window next opens."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    start = time(*parse_clock(window.start))
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        if offset == 0 and _within(local.time(), window):
            return now
        opening = datetime.combine(day, start, tz)
        if opening > local:
            return opening.astimezone(timezone.utc)
    raise ValueError("call window has no days")  # unreachable: the playbook requires at least one day


def scaled(seconds: float, seconds_per_day: float) -> timedelta:
    """A cadence duration on the compressed clock: ``seconds`` of real days scaled by CADENCE_SECONDS_PER_DAY."""
    return timedelta(seconds=seconds * seconds_per_day / 86400)


def whatsapp_window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form WhatsApp message may be sent now (the lead wrote within 24 hours)."""
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_WINDOW
