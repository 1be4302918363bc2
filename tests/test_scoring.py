"""Score = fit + intent + engagement, graded by the playbook's bands."""

from __future__ import annotations

from graph.playbook import load_playbook
from graph.scoring import score_lead
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")


def test_parts_are_kept_apart_with_the_answers_that_earned_them():
    s = score_lead(PB, {"service_type": "repair", "urgency": "now", "postal_code": "80203", "is_owner": True})
    assert (s["fit"], s["intent"], s["engagement"], s["total"], s["grade"]) == (35, 40, 10, 85, "A")
    assert s["items"]["fit"] == [{"question": "service_type", "answer": "repair", "points": 20},
                                 {"question": "is_owner", "answer": True, "points": 15}]
    assert s["items"]["intent"] == [{"question": "urgency", "answer": "now", "points": 40}]
    assert s["estimated_value_usd"] == 1200


def test_grade_bands_and_unknown_answers():
    nurture = score_lead(PB, {"service_type": "inspection", "urgency": "planning", "postal_code": "80203",
                              "is_owner": False})
    assert (nurture["total"], nurture["grade"]) == (25, "D")
    b = score_lead(PB, {"service_type": "repair", "urgency": "month", "postal_code": "80203", "is_owner": True})
    assert (b["total"], b["grade"]) == (70, "B")
    c = score_lead(PB, {"service_type": "repair", "urgency": "planning", "postal_code": "80203", "is_owner": True})
    assert (c["total"], c["grade"]) == (50, "C")
    unknown = score_lead(PB, {"service_type": None, "urgency": None, "postal_code": None, "is_owner": None})
    assert (unknown["total"], unknown["engagement"], unknown["estimated_value_usd"]) == (0, 0, None)


def test_reasks_lower_engagement():
    answers = {"service_type": "replacement", "urgency": "now", "postal_code": "80203", "is_owner": True}
    assert score_lead(PB, answers)["engagement"] == 10
    assert score_lead(PB, answers, reasks=2)["engagement"] == 8
    assert score_lead(PB, answers, reasks=20)["engagement"] == 0
