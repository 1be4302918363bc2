"""What a model may add to a message's reading, and what the words alone decide: quotes as evidence, clauses
that keep their negations, and the intents read without a model (opt-out in words, wrong number, a person)."""

from __future__ import annotations

import pytest

from graph.playbook import load_playbook
from graph.reading.intents import said_intent
from graph.reading.message import read_message
from graph.understanding import clauses_quoted, evidenced, merge_proposal, to_ask
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")


def stands(field: str, value: str, quote: str, text: str, pending: str | None = None) -> bool:
    return evidenced(PB, PB.question(field), {"value": value, "quote": quote}, text, pending=pending)[0]


def test_a_quote_that_disambiguates_stands():
    text = "my neighbour had a repair done last year but ours needs a full replacement"
    assert read_message(PB, text, pending="service_type").ambiguous == {"service_type"}
    assert stands("service_type", "replacement", "ours needs a FULL replacement!", text)


@pytest.mark.parametrize(("field", "value", "quote", "text"), [
    ("urgency", "now", "Right now, I'm not able to provide financing", "uh the roof"),  # not in the message
    ("is_owner", "yes", "is this gonna cost me a fortune?", "is this gonna cost me a fortune?"),  # says no such thing
    ("service_type", "repair", "a repair", "not a repair, maybe a replacement"),  # its clause negates it
    ("postal_code", "01420", "1420", "We're at 1420 Pine St, Denver CO"),  # a street number is not a ZIP
    ("service_type", "repair", "", "need a repair"),  # no quote, no value
    ("is_owner", "no", "no idea honestly", "no idea honestly"),  # a bare "no" answers only the question just asked
])
def test_a_value_without_evidence_is_dropped(field, value, quote, text):
    assert not stands(field, value, quote, text)


def test_a_bare_answer_stands_only_for_the_question_just_asked():
    assert stands("is_owner", "yes", "yep", "yep, whenever works", pending="is_owner")
    assert not stands("is_owner", "yes", "yep", "yep, whenever works", pending="urgency")


def test_clauses_quoted_keeps_the_quotes_clause_whole():
    assert clauses_quoted("not a repair, a full replacement", "a repair") == "not a repair"
    assert clauses_quoted("Hi! We OWN it, in 80203", "we own") == "we own it"
    assert clauses_quoted("hello", "goodbye") is None


def test_the_model_is_asked_only_about_open_questions_the_parser_did_not_read():
    reading = read_message(PB, "new roof please, zip 80203")
    assert to_ask(PB, reading, answered={"is_owner"}) == ["urgency"]


def test_a_proposal_never_replaces_what_the_parser_read_or_an_earlier_answer():
    text = "new roof, asap, zip 80203"
    read = read_message(PB, text).answers
    proposal = {"service_type": {"value": "repair", "quote": "new roof"}, "is_owner": {"value": "yes", "quote": "asap"}}
    assert merge_proposal(PB, read, proposal, answered=set(), text=text, pending=None) == read


@pytest.mark.parametrize(("text", "intent"), [
    ("please stop texting me", "opt_out"), ("stop texting me or I'll report you", "opt_out"),
    ("Remove me from your list", "opt_out"), ("dont text me again", "opt_out"), ("leave me alone!!", "opt_out"),
    ("no me escriban más", "opt_out"), ("Déjenme en paz", "opt_out"),
    ("wrong number", "wrong_number"), ("sorry wrong numbr", "wrong_number"), ("número equivocado", "wrong_number"),
    ("can I talk to a real person instead?", "wants_human"), ("quiero hablar con una persona", "wants_human"),
    ("I rent. please remove me", "opt_out"),
])
def test_intents_in_words(text, intent):
    assert said_intent(text) == intent


@pytest.mark.parametrize("text", [
    "in Denver near Wash Park", "I never said stop texting", "don't stop texting me, I'm interested",
    "who is this?", "is this gonna cost me a fortune?", "stop by whenever this week works", "need a new roof",
])
def test_no_intent_where_the_words_do_not_say_one(text):
    assert said_intent(text) is None


@pytest.mark.parametrize(("text", "model_says", "taken"), [
    ("hola", "es", "es"), ("mañana", "es", "es"),  # too short for lingua alone, but it leans Spanish
    ("ok thanks", "es", None), ("yes", "es", None), ("2", "es", None),  # a weak model's Spanish is not believed
    ("tengo una gotera", "fr", None),  # not a language the playbook speaks
])
def test_a_models_language_is_taken_only_where_the_detector_leans_to_it(text, model_says, taken):
    from graph.reading.language import corroborated

    assert corroborated(text, ("en", "es"), model_says) == taken
