"""What a model-written message must pass before it is sent (graph.drafts)."""

from __future__ import annotations

import pytest

from graph.drafts import check_draft, digits_in, playbook_urls
from graph.playbook import load_playbook
from tests.conftest import ROOT

PLAYBOOK = load_playbook(ROOT / "playbook.yaml")
TEXTS = [t for _, t in PLAYBOOK.texts()]
ALLOWED = dict(allowed_urls=playbook_urls(PLAYBOOK), allowed_numbers=digits_in(TEXTS))


def check(text: str, channel: str = "sms") -> str | None:
    return check_draft(text, channel=channel, **ALLOWED)


def test_a_good_personal_draft_passes_with_the_playbooks_links_and_number():
    assert check("Hi Ann, still planning that new roof? Our guide: https://summitroofing.example/guide") is None
    assert check("Grab a time: https://calendly.com/summit-roofing/estimate?phone=%2B17205550100&utm_content=lead-4") is None
    assert check("Questions? Call us at (303) 555-0142.") is None  # the business's own number, from help_text


@pytest.mark.parametrize("draft, reason", [
    ("", "empty"),
    ("x" * 321, "too long (321 > 320 characters)"),
    ("Hi {name}, still need help?", "placeholder left in the text"),
    ("Hi [First Name], still need help?", "placeholder left in the text"),
    ("Book at https://evil.example/book now", "link not in the playbook: https://evil.example/book"),
    ("Call Dana directly at 720-555-0199", "phone number not in the playbook"),
    ("Text +1 (303) 555-0143 for the rep", "phone number not in the playbook"),
])
def test_a_draft_that_breaks_a_rule_is_refused_with_the_reason(draft, reason):
    assert check(draft) == reason


def test_whatsapp_allows_a_longer_message_than_sms():
    assert check("y" * 900, channel="whatsapp") is None
    assert check("y" * 1025, channel="whatsapp") == "too long (1025 > 1024 characters)"
