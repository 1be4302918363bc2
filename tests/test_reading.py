"""The deterministic reading (graph.reading): every answer a message states, with the example playbook's words."""

from __future__ import annotations

import pytest

from graph.buttons import buttons, layout, read_tap
from graph.playbook import load_playbook
from graph.reading.language import detect
from graph.reading.message import read_message
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")


def read(text: str, pending: str | None = None) -> dict:
    return read_message(PB, text, pending=pending).answers


def test_one_first_message_answers_all_four_questions():
    assert read("need a new roof asap, house is in 80203 and yes it's mine") == {
        "service_type": "replacement", "urgency": "now", "postal_code": "80203", "is_owner": True}


@pytest.mark.parametrize(("text", "pending", "expected"), [
    ("we own it", None, True), ("the house is mine", None, True), ("I'm the homeowner", None, True),
    ("I rent", None, False), ("my landlord said to get a quote", None, False),
    ("I'm not the owner", None, False), ("we don't rent, it's ours", None, True),  # a negated phrase means the opposite
    ("yep", "is_owner", True), ("nope", "is_owner", False), ("no i rent", "is_owner", False),
    ("sí", "is_owner", True), ("soy el dueño", None, True), ("no soy el dueño", None, False), ("rento", None, False),
])
def test_ownership_in_its_usual_phrasings(text, pending, expected):
    assert read(text, pending).get("is_owner") is expected


def test_a_plain_yes_or_no_answers_only_the_yes_no_question_just_asked():
    assert "is_owner" not in read("yes", pending="urgency")
    assert "is_owner" not in read("no, it's a repair", pending=None)
    assert read("not sure", pending="is_owner") == {}  # unsure is no reading, not a no


@pytest.mark.parametrize(("text", "expected"), [
    ("asap pls", "now"), ("can someone come this week", "now"), ("as soon as you can", "now"),
    ("within a month", "month"), ("next week is fine", "month"),
    ("no rush", "planning"), ("next year probably", "planning"), ("not urgent", "planning"),
    ("lo antes posible", "now"), ("no hay prisa", "planning"),
])
def test_urgency_phrases_anywhere(text, expected):
    assert read(text)["urgency"] == expected


def test_time_that_has_passed_is_not_an_urgency():
    assert "urgency" not in read("it started leaking last month")


@pytest.mark.parametrize(("text", "expected"), [
    ("not a repair, a full replacement", "replacement"), ("not a repair but a replacement", "replacement"),
    ("a replacement instead of a repair", "replacement"), ("no leak, just want it inspected", "inspection"),
    ("no es una reparación, necesito un techo nuevo", "replacement"),
])
def test_a_negated_or_contrasted_mention_does_not_count(text, expected):
    assert read(text)["service_type"] == expected


@pytest.mark.parametrize("text", [
    "repair or replacement?", "hail damage, might need a new roof", "leak in the kitchen and we want a new roof",
])
def test_two_readings_of_one_question_is_no_reading(text):
    assert "service_type" not in read(text)


def test_two_readings_are_marked_ambiguous():
    assert read_message(PB, "leak in the kitchen and we want a new roof").ambiguous == {"service_type"}


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("replacment", "service_type", "replacement"), ("inspecton please", "service_type", "inspection"),
    ("reparcion", "service_type", "repair"), ("urgnet", "urgency", None),  # a short word's typo is not guessed
])
def test_typos_are_forgiven_on_longer_words(text, field, expected):
    assert read(text).get(field) == expected


def test_a_typo_is_not_read_as_a_different_short_word():
    assert "urgency" not in read("hay goteras en toda la casa")  # "toda" is not "today"


@pytest.mark.parametrize(("text", "pending", "expected"), [
    ("2", "service_type", "replacement"), ("option two", "service_type", "replacement"),
    ("the third one", "service_type", "inspection"), ("la segunda", "urgency", "month"), ("el 1", "urgency", "now"),
    ("2 - and yes I'm the owner", "urgency", "month"),
])
def test_a_position_answers_the_choice_just_asked(text, pending, expected):
    assert read(text, pending)[pending] == expected


def test_a_position_answers_no_question_that_was_not_asked():
    assert read("2", pending="postal_code") == {}
    assert "service_type" not in read("we have 2 leaks", pending=None) or read("we have 2 leaks")["service_type"] == "repair"
    assert read("2 weeks", pending="service_type") == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("We're at 1420 Pine St, Denver CO 80218", "80218"), ("12345 W Colfax Ave Denver 80204", "80204"),
    ("zip is 80204-1234, gracias", "80204"), ("8 0 2 2 3", "80223"), ("eight oh two oh three", "80203"),
    ("ocho cero dos uno nueve", "80219"),
])
def test_zip_codes_anywhere(text, expected):
    assert read(text)["postal_code"] == expected


@pytest.mark.parametrize("text", ["budget around 12000", "we can spend $15000", "15000 dollars tops",
                                  "80012 is where I live but the house is in 80014"])
def test_amounts_and_second_zip_codes_are_not_read_as_the_zip(text):
    assert "postal_code" not in read(text)


def test_spanish_is_detected_offline_and_a_mixed_message_stays_english():
    assert detect("tengo una gotera en la cocina", ("en", "es")) == "es"
    assert detect("gracias", ("en", "es")) == "es"
    assert detect("hola, need a roof repair asap", ("en", "es")) is None or \
        detect("hola, need a roof repair asap", ("en", "es")) == "en"
    assert detect("hola", ("en", "es")) is None  # too short to be sure
    assert detect("80203", ("en", "es")) is None
    assert detect("tengo una gotera", ("en",)) is None  # the playbook speaks English only


def test_buttons_per_question_and_taps_read_back_exactly():
    service, zip_code, owner = PB.question("service_type"), PB.question("postal_code"), PB.question("is_owner")
    assert layout(service) == "quick_reply" and layout(zip_code) is None
    assert [(b.id, b.title) for b in buttons(PB, service)] == [
        ("service_type:repair", "Leak or repair"), ("service_type:replacement", "Full replacement"),
        ("service_type:inspection", "Inspection")]
    assert [b.title for b in buttons(PB, owner, "es")] == ["Sí", "No"]
    assert read_tap(PB, "is_owner:no") == ("is_owner", False)
    assert read_tap(PB, "service_type:inspection") == ("service_type", "inspection")
    assert read_tap(PB, "service_type:roofing") is None and read_tap(PB, "nothing") is None and read_tap(PB, None) is None


@pytest.mark.parametrize("text", [
    "got a quote for $12,500 to replace my roof", "budget is $10,000", "$15000", "the hail storm was on 6-12-24",
    "call me at 303-555-01425", "a 25000 sq ft warehouse roof", "order #12345", "\u0661\u0662\u0663\u0664\u0665",
])
def test_numbers_that_are_not_zip_codes(text):
    assert "postal_code" not in read(text)


@pytest.mark.parametrize("text", ["1-2 months", "3, 4 days", "2. actually no, 3"])
def test_a_range_or_a_changed_mind_is_not_a_position(text):
    assert "urgency" not in read(text, "urgency")


def test_a_leading_position_followed_by_a_zip_code_is_still_the_answer():
    assert read("3 - and im the owner, 80231", "service_type") == {"service_type": "inspection", "is_owner": True,
                                                                  "postal_code": "80231"}


@pytest.mark.parametrize(("text", "expected"), [("Leak or repair", "repair"), ("a leak or repair", "repair"),
                                                ("Gotera o reparación", "repair"), ("full replacement", "replacement")])
def test_a_typed_button_title_is_read(text, expected):
    assert read(text, "service_type")["service_type"] == expected
