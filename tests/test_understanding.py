"""The conversation reads every answer a message states: confirmations, corrections, Spanish and taps (no model)."""

from __future__ import annotations

from graph.playbook import load_playbook
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")
ASK_URGENCY = "How soon do you need it? 1 = right away, 2 = within a month, 3 = just planning."
ASK_ZIP = "What's the ZIP code of the property?"
ASK_OWNER = "Are you the property owner? (yes/no)"


def test_a_first_message_with_answers_skips_their_questions_and_says_what_was_understood(talk):
    first = talk("need a full replacement, house is in 80203")
    assert first["replies"][1] == f"Got it: a full replacement, in 80203. {ASK_URGENCY}"
    assert first["answers"] == {"service_type": "replacement", "postal_code": "80203"}
    assert talk("asap")["replies"] == [ASK_OWNER]  # the answer to the question just asked is not read back


def test_everything_in_one_message_goes_straight_to_the_outcome_with_the_confirmation(talk):
    done = talk("need a new roof asap, house is in 80203 and yes it's mine")
    assert done["outcome"] == "qualified" and done["reasks"] == 0
    assert done["replies"][1].startswith("Got it: a full replacement, right away, in 80203, you own the property. "
                                         "Thanks Ann! You're a great fit.")


def test_an_answer_to_another_question_is_taken_and_the_pending_one_asked_again(talk):
    talk("hi")
    reply = talk("it's a rental, I'm just the tenant")  # asked what they need, they said who owns it
    assert reply["answers"] == {"is_owner": False} and reply["attempts"] == 0 and reply["reasks"] == 0
    assert reply["replies"][0].startswith("Got it: you don't own the property. What do you need?")


def test_a_correction_replaces_an_understood_answer(talk):
    talk("need a full replacement, house is in 80203")
    fixed = talk("no, it's a repair")
    assert fixed["answers"]["service_type"] == "repair"
    assert fixed["replies"] == [f"Got it: a repair. {ASK_URGENCY}"]


def test_an_answer_given_to_its_question_needs_a_correction_word_to_change(talk):
    talk("hi")
    talk("2")  # replacement, answered to the question
    assert talk("the leak is getting worse, asap")["answers"]["service_type"] == "replacement"
    assert talk("actually it's just a repair")["answers"]["service_type"] == "repair"


def test_a_correction_after_the_outcome_replaces_the_value_and_the_score(talk):
    done = talk("need a new roof asap, house is in 80203 and yes it's mine")
    assert done["score"]["total"] == 100
    after = talk("sorry, I'm not the owner, I rent")
    assert after["answers"]["is_owner"] is False and after["score"]["total"] == 85
    assert after["replies"][0].startswith("Got it: you don't own the property. Thanks Ann!")
    assert after["rep_alert"] is None  # still qualified: the rep was told once
    moved = talk("actually we're just planning, next year")
    assert moved["score"]["total"] < PB.scoring.qualify_at and moved["outcome"] == "nurture"
    assert "guide to roof costs" in moved["replies"][0]


def test_spanish_is_spoken_back_without_a_model(talk):
    first = talk("hola, tengo una gotera en el techo y es urgente")
    assert first["language"] == "es"
    assert first["replies"][0].startswith("¡Hola Ann! Gracias por contactar a Summit Roofing.")
    assert first["replies"][1] == "Entendido: una reparación, de inmediato. ¿Cuál es el código postal de la propiedad?"
    assert talk("80219")["replies"] == ["¿Es usted el dueño de la propiedad? (sí/no)"]
    assert talk("sí")["outcome"] == "qualified"


def test_a_mixed_message_stays_english(talk):
    first = talk("hola, need a roof repair asap")
    assert first["language"] in (None, "en") and first["replies"][0].startswith("Hi Ann!")


def test_once_english_a_gracias_does_not_turn_the_conversation_spanish(talk):
    talk("Hi, I need a roof repair, my zip is 80203")
    assert talk("Gracias!")["replies"][0].startswith("Sorry, I didn't catch that. Please reply with one of the numbers.")


def test_a_tapped_button_is_the_exact_answer(talk):
    talk("hi")
    tapped = talk("Leak or repair", tap="service_type:inspection")  # the button's id wins over its title
    assert tapped["answers"] == {"service_type": "inspection"} and tapped["asking"] == "urgency"
    assert talk("Right away", tap="urgency:now")["answers"]["urgency"] == "now"
    assert talk("80203")["asking"] == "is_owner"
    assert talk("No", tap="is_owner:no")["answers"]["is_owner"] is False


def test_an_unknown_tap_is_read_as_text(talk):
    talk("hi")
    assert talk("2", tap="service_type:gutters")["answers"] == {"service_type": "replacement"}


def test_a_corrected_zip_code_back_in_the_area_asks_the_questions_it_cut_short(talk):
    talk("hi")
    talk("2")
    talk("asap")
    out = talk("90210")
    assert out["outcome"] == "disqualified"
    back = talk("sorry, I meant 80203")
    assert back["phase"] == "asking" and back["answers"]["postal_code"] == "80203"
    assert back["replies"] == [f"Got it: in 80203. {ASK_OWNER}"]
    done = talk("yes")
    assert done["outcome"] == "qualified" and done["rep_alert"].startswith("HOT lead")


def test_chit_chat_after_the_outcome_changes_no_answer(talk):
    for text in ("hello", "1", "1", "80203"):
        talk(text)
    assert talk("yes")["outcome"] == "qualified"
    for text in ("not sure yet when, I will call tomorrow", "When can you come check it out?", "no rush, thanks"):
        after = talk(text)
        assert after["answers"] == {"service_type": "repair", "urgency": "now", "postal_code": "80203",
                                    "is_owner": True}, text
        assert after["replies"][0].startswith("Your booking link again"), text


def test_an_understood_answer_changes_without_a_correction_word_only_right_after_it_was_confirmed(talk):
    talk("we need a new roof")
    talk("asap")  # the turn after "Got it: a full replacement": no different reading
    assert talk("let me check with my wife first")["answers"]["service_type"] == "replacement"


def test_tapping_an_answer_already_given_is_not_a_failed_answer(talk):
    talk("hi")
    talk("Full replacement", tap="service_type:replacement")
    again = talk("Full replacement", tap="service_type:replacement")
    assert (again["attempts"], again["reasks"]) == (0, 0)
    assert again["replies"] == [ASK_URGENCY]
