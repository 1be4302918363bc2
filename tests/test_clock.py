"""The lead's clock: time zone from the number, quiet hours, call window, WhatsApp window, scaled days."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cadence.clock import lead_timezone, next_call_opening, quiet_until, scaled, whatsapp_window_open
from graph.playbook import CallWindow, TimeRange

QUIET = TimeRange(start="21:00", end="08:00")
WEEKDAYS = CallWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_time_zone_from_the_number_else_the_business():
    assert lead_timezone("+13035550100", "America/New_York") == "America/Denver"
    assert lead_timezone("+442079460100", "America/Denver") == "Europe/London"
    assert lead_timezone("+15005550006", "America/Denver") == "America/Denver"  # many zones: the business's


def test_quiet_hours_wrap_past_midnight_in_local_time():
    assert quiet_until(utc(2026, 11, 23, 18, 0), "America/Denver", QUIET) is None       # 11:00 MST
    assert quiet_until(utc(2026, 11, 23, 5, 0), "America/Denver", QUIET) == utc(2026, 11, 23, 15, 0)  # 22:00
    assert quiet_until(utc(2026, 11, 23, 12, 0), "America/Denver", QUIET) == utc(2026, 11, 23, 15, 0)  # 05:00
    assert quiet_until(utc(2026, 11, 23, 5, 0), "Europe/London", QUIET) == utc(2026, 11, 23, 8, 0)


def test_quiet_hours_follow_daylight_saving():
    # 23:00 MST on 7 March 2026; clocks spring forward that night, so 08:00 is MDT (UTC-6).
    assert quiet_until(utc(2026, 3, 8, 6, 0), "America/Denver", QUIET) == utc(2026, 3, 8, 14, 0)


def test_equal_start_and_end_means_no_quiet_hours():
    assert quiet_until(utc(2026, 11, 23, 5, 0), "America/Denver", TimeRange(start="03:00", end="03:00")) is None


def test_call_window_opens_next_business_morning():
    monday_10am = utc(2026, 11, 23, 17, 0)
    assert next_call_opening(monday_10am, "America/Denver", WEEKDAYS) == monday_10am
    saturday = utc(2026, 11, 21, 18, 0)
    assert next_call_opening(saturday, "America/Denver", WEEKDAYS) == utc(2026, 11, 23, 16, 0)
    friday_evening = utc(2026, 11, 28, 2, 0)  # Friday 19:00 MST
    assert next_call_opening(friday_evening, "America/Denver", WEEKDAYS) == utc(2026, 11, 30, 16, 0)


def test_whatsapp_window_and_scaled_days():
    now = utc(2026, 11, 23, 12, 0)
    assert whatsapp_window_open(now - timedelta(hours=23, minutes=59), now)
    assert not whatsapp_window_open(now - timedelta(hours=24), now)
    assert not whatsapp_window_open(None, now)
    assert scaled(3 * 86400, 86400) == timedelta(days=3)
    assert scaled(3 * 86400, 2) == timedelta(seconds=6)
