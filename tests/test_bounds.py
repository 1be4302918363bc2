"""store.bounds: every integer and instant from outside is bounded before arithmetic or the database sees it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from store.bounds import (
    EARLIEST,
    LATEST,
    MAX_ID,
    BoundedInstant,
    bounded_instant,
    bounded_int,
    optional_int,
    parse_instant,
    row_id,
    unix_seconds,
)


@pytest.mark.parametrize("text", ["²", "٣", "1e3", "-1", "0x10", "", " ", "9" * 11, "9" * 5000, None, True, 1.5])
def test_bounded_int_takes_only_a_few_ascii_digits(text):
    with pytest.raises(ValueError):
        bounded_int(text)


def test_bounded_int_and_row_id_keep_to_their_range():
    assert bounded_int("0") == 0 and bounded_int(" 42 ") == 42 and bounded_int(7, high=7) == 7
    with pytest.raises(ValueError):
        bounded_int("8", high=7)
    assert row_id("1") == 1 and row_id(str(MAX_ID)) == MAX_ID
    for bad in ("0", str(MAX_ID + 1), "99999999999999999999"):
        with pytest.raises(ValueError):
            row_id(bad)


@pytest.mark.parametrize("text, value", [("21610", 21610), (None, None), ("", None), ("²", None), ("9" * 5000, None),
                                         ("99999999999999999999", None), ("-5", None)])
def test_optional_int_reads_an_unreadable_hint_as_none(text, value):
    assert optional_int(text) == value


def test_unix_seconds_is_a_timestamp_between_1970_and_2200():
    assert unix_seconds("1700000000") == 1700000000
    for bad in ("²", "9" * 5000, str(int(LATEST.timestamp())), "17000000000", "1700000000.5"):
        with pytest.raises(ValueError):
            unix_seconds(bad)


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                  "1969-12-31T23:59:59Z", "2200-01-01", "2026-13-01", "x" * 65, "last tuesday"])
def test_parse_instant_refuses_what_is_not_a_sane_iso_8601_instant(text):
    with pytest.raises(ValueError):
        parse_instant(text)


def test_parse_instant_reads_dates_and_zones_as_utc():
    assert parse_instant("2026-11-01") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_instant("2026-11-01T08:00:00-07:00") == datetime(2026, 11, 1, 15, tzinfo=timezone.utc)
    assert parse_instant("1970-01-01T00:00:00Z") == EARLIEST
    assert bounded_instant(LATEST - timedelta(microseconds=1)).year == 2199


class _Capture(BaseModel):
    received_at: BoundedInstant | None = None


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                  "1969-07-20T20:17:00Z"])
def test_bounded_instant_fields_name_themselves_when_out_of_range(text):
    with pytest.raises(ValidationError) as exc:
        _Capture(received_at=text)
    assert [e["loc"] for e in exc.value.errors()] == [("received_at",)]
    assert "between 1970-01-01 and 2200-01-01" in str(exc.value)


def test_a_bounded_instant_field_is_utc():
    assert _Capture(received_at="2026-11-22T08:00:00-07:00").received_at == datetime(2026, 11, 22, 15,
                                                                                   tzinfo=timezone.utc)
    with pytest.raises(ValidationError):
        _Capture(received_at="2026-11-22T08:00:00")  # a zone is required
