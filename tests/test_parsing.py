"""Deterministic answer parsing by question type."""

from __future__ import annotations

import pytest

from graph.parsing import parse_answer, parse_number
from graph.playbook import load_playbook
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")
Q = {q.id: q for q in PB.questions}


@pytest.mark.parametrize(("text", "value"), [
    ("1", "repair"), ("2", "replacement"), ("3", "inspection"), (" 2. ", "replacement"),
    ("Replacement", "replacement"), ("we need a NEW ROOF", "replacement"), ("there's a leak", "repair"),
    ("Leak!!", "repair"), ("just an inspection please", "inspection"), ("reroof", "replacement"),
])
def test_choice_by_number_value_or_synonym(text, value):
    assert parse_answer(Q["service_type"], text).value == value


@pytest.mark.parametrize("text", ["banana", "", "fix it and inspect it", "12", "leaky", "4", "checking in"])
def test_choice_that_names_none_or_several_is_not_guessed(text):
    parsed = parse_answer(Q["service_type"], text)
    assert not parsed.ok and parsed.hint.startswith("Sorry, I didn't catch that")


@pytest.mark.parametrize(("text", "value"), [
    ("asap", "now"), ("Right away please", "now"), ("TOMORROW", "now"), ("in a few weeks", "month"),
    ("not sure yet", "planning"), ("maybe next year", "planning"), ("2", "month"),
])
def test_urgency_synonyms_including_multi_word(text, value):
    assert parse_answer(Q["urgency"], text).value == value


@pytest.mark.parametrize(("text", "value"), [
    ("yes", True), ("Yep!", True), ("y", True), ("I am", True), ("sure, I own it", True), ("Sí", True),
    ("no", False), ("Nope", False), ("I am not, I rent", False), ("I'm a tenant", False), ("nah", False),
])
def test_yes_no_words(text, value):
    assert parse_answer(Q["is_owner"], text).value is value


@pytest.mark.parametrize("text", ["maybe", "what?", "", "yes and no"])
def test_yes_no_unclear(text):
    assert not parse_answer(Q["is_owner"], text).ok


@pytest.mark.parametrize(("text", "value"), [
    ("80203", "80203"), ("it's 80203-1234", "80203"), ("zip 90210.", "90210"),
])
def test_postal_code(text, value):
    assert parse_answer(Q["postal_code"], text).value == value


@pytest.mark.parametrize("text", ["8020", "802031", "80203 or 80204", "downtown"])
def test_postal_code_needs_exactly_one_zip(text):
    assert not parse_answer(Q["postal_code"], text).ok


@pytest.mark.parametrize(("text", "value"), [
    ("$5k", 5000), ("5,000", 5000), ("five thousand", 5000), ("about 20K", 20000), ("1.5m", 1_500_000),
    ("$12,500.50", 12500.5), ("5000 dollars", 5000), ("fifteen hundred", 1500), ("$750", 750),
])
def test_money_forms(text, value):
    assert parse_number(None, text) == value


@pytest.mark.parametrize("text", ["between 5 and 10k", "no idea", "", "lots"])
def test_money_that_is_not_one_amount(text):
    assert parse_number(None, text) is None
