"""Keywords, rendering of owners' texts, and phone masking in logs."""

from __future__ import annotations

import logging

import pytest

from bot.conversation.keywords import classify
from bot.logs import MaskingFormatter, mask_phones
from graph.texts import booking_link, render


@pytest.mark.parametrize(("body", "kind"), [
    ("STOP", "opt_out"), (" stop ", "opt_out"), ("Stop.", "opt_out"), ("stop all", "opt_out"), ("OPT-OUT", "opt_out"),
    ("unsubscribe!", "opt_out"), ("Start", "opt_in"), ("unstop", "opt_in"), ("yes", "opt_in"), ("HELP?", "help"),
    ("info", "help"), ("please stop", None), ("stopping by later", None), ("", None), ("helpful", None),
])
def test_keywords_are_whole_messages_in_any_case(body, kind):
    assert classify(body) == kind


def test_render_tidies_around_a_missing_name():
    assert render("Hi {name}! Thanks", name=None) == "Hi! Thanks"
    assert render("Your link again, {name}: {url}.", name=None, url="https://x.example") == "Your link again: https://x.example."
    assert render("{name}, most homeowners ask", name=None) == "Most homeowners ask"
    assert render("Hi {name}, it's us", name="Ann") == "Hi Ann, it's us"
    assert render("Owner? {is_owner}. ZIP {zip}", is_owner=True, zip="80203") == "Owner? yes. ZIP 80203"


def test_booking_link_keeps_existing_query_and_adds_the_lead():
    url = booking_link("https://calendly.com/x/estimate?month=2026-12", name="Ann Lee", phone="+17205550100",
                       lead_ref="lead-9")
    assert url == ("https://calendly.com/x/estimate?month=2026-12&name=Ann+Lee&phone=%2B17205550100"
                   "&utm_content=lead-9&utm_source=leadline")


def test_phone_numbers_are_masked_in_log_lines():
    assert mask_phones("to whatsapp:+13035550143 from +15005550006") == "to whatsapp:+1303•••0143 from +1500•••0006"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "lead %s replied", ("+17205550100",), None)
    assert MaskingFormatter("%(message)s").format(record) == "lead +1720•••0100 replied"
