"""Logs carry no personal data: phone numbers and emails are masked, database errors hold no bound values."""

from __future__ import annotations

import logging
import sys

import pytest
from sqlalchemy import exc, insert

from bot.logs import MaskingFormatter, mask
from store.bounds import MAX_ID
from store.db import make_engine
from store.models import Message

SECRET = "Ann Secretname"
"""A value only ever bound as a statement parameter: it must not reach an error message or a log line."""


def formatted(message: str, *args: object, exc_info: object = None) -> str:
    record = logging.LogRecord("leadline.test", logging.ERROR, __file__, 1, message, args, exc_info)
    return MaskingFormatter("%(levelname)s %(name)s: %(message)s").format(record)


def test_a_log_line_masks_phones_and_emails_also_in_a_traceback_and_a_url():
    try:
        raise RuntimeError("no lead for ann.lee@example.com at +13035550143")
    except RuntimeError:
        line = formatted("Calendly invitee %s (%s) booked via %s", "John_Smith@Mail.Example.co.uk", "+442079460100",
                         "https://calendly.com/x?phone=%2B13035550100&email=ann%40example.com",
                         exc_info=sys.exc_info())
    assert "J•••@Mail.Example.co.uk" in line and "+4420••••0100" in line
    assert "phone=%2B1303•••0100&email=a•••%40example.com" in line
    assert "no lead for a•••@example.com at +1303•••0143" in line  # the traceback too
    for secret in ("ann.lee", "John_Smith", "5550143", "9460100", "ann%40", "5550100"):
        assert secret not in line


def test_postgres_error_details_quoting_row_values_are_blanked():
    detail = ('null value in column "direction" violates not-null constraint\n'
              'DETAIL:  Failing row contains (2, null, reply, Ann (Lee), null).\n'
              'DETAIL:  Key (channel, phone)=(sms, +13035550100) already exists.')
    assert mask(detail) == ('null value in column "direction" violates not-null constraint\n'
                            'DETAIL:  Failing row contains (…).\n'
                            'DETAIL:  Key (channel, phone)=(…) already exists.')


def test_a_database_url_and_ordinary_text_are_left_alone():
    text = "postgresql+psycopg://postgres@127.0.0.1:5432/leadline lead 42 scored 80 at 2026-11-22T15:00:00+00:00"
    assert mask(text) == text


def failing_inserts(database_url: str) -> dict[str, dict[str, object]]:
    """Rows that break a constraint, each carrying ``SECRET`` as a bound value."""
    row = {"business_id": 1, "direction": "outbound", "kind": "reply", "to_address": "+13035550100", "body": SECRET}
    cases: dict[str, dict[str, object]] = {
        "foreign_key": {**row, "lead_id": MAX_ID},  # IntegrityError: no such lead
        "not_null": {**row, "direction": None},  # IntegrityError; Postgres quotes the failing row
    }
    if not database_url.startswith("sqlite"):
        cases["out_of_range"] = {**row, "error_code": 2**40}  # DataError (SQLite stores any 64-bit integer)
    return cases


@pytest.mark.parametrize("case", ["foreign_key", "not_null", "out_of_range"])
def test_database_errors_and_their_log_lines_hold_no_bound_value(database_url, case):
    cases = failing_inserts(database_url)
    if case not in cases:
        pytest.skip("SQLite raises no DataError: it stores any 64-bit integer in an INTEGER column")
    engine = make_engine(database_url)
    try:
        with pytest.raises((exc.IntegrityError, exc.DataError)) as raised, engine.begin() as conn:
            conn.execute(insert(Message).values(**cases[case]))
    finally:
        engine.dispose()
    message = str(raised.value)
    assert "parameters hidden" in message
    if case != "not_null":  # Postgres's own NOT NULL detail quotes the row: the log formatter blanks it
        assert SECRET not in message
    line = formatted("could not store the message", exc_info=(raised.type, raised.value, raised.tb))
    assert SECRET not in line and "5550100" not in line
    assert ("DataError" if case == "out_of_range" else "IntegrityError") in line
