"""Route state on every lead, and reps working leads by texting the bot's number (CLAIM / BOOKED / LOST)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from bot.reps.assignment import route_new_lead, route_on_answers
from graph.playbook import PlaybookError, _Yaml12Loader, load_playbook
from store.models import Lead, Touch, utcnow
from tests.conftest import REP_PHONE, ROOT, SMS_FROM, Prospect, lead_of, messages_to, qualify, wait_for


def rep_says(sandbox, body: str) -> str:
    """The rep texts the bot's number; returns the bot's answer to the rep."""
    before = len(messages_to(sandbox, REP_PHONE))
    Prospect(sandbox, REP_PHONE).say(body)
    replies = wait_for(lambda: (m := messages_to(sandbox, REP_PHONE)) and len(m) > before and m,
                       what=f"the answer to the rep's {body!r}")
    return replies[-1]["body"]


def test_every_lead_gets_route_state_at_first_contact(prospect, sessions):
    p = prospect()
    p.say("hello")
    p.wait_for_replies(2)
    lead = lead_of(sessions, p.number)
    assert (lead.owner, lead.dispatcher, lead.next_action_by) == ("Dana", "round_robin", "bot")
    assert lead.assigned_at is not None
    assert lead.first_response_due_at == lead.created_at + timedelta(minutes=5)
    assert lead.first_response_at <= lead.first_response_due_at  # answered inside the promise


def test_rep_claims_books_and_loses_leads_by_sms(prospect, sandbox, sessions):
    hot, other = prospect(), prospect()
    qualify(hot)
    lead = lead_of(sessions, hot.number)
    assert (lead.status, lead.next_action_by) == ("qualified", "reps")
    with sessions() as s:
        owed = s.scalars(select(Touch).where(Touch.lead_id == lead.id, Touch.result.is_(None))).all()
    assert owed, "a qualified, unbooked lead is in the cadence"

    assert rep_says(sandbox, f"claim {lead.id}") == f"Lead #{lead.id} ({lead.phone}) is yours, Dana."
    claimed = lead_of(sessions, hot.number)
    assert (claimed.owner, claimed.dispatcher) == ("Dana", "rep:Dana")

    answer = rep_says(sandbox, f"BOOKED {lead.id}")
    assert answer == f"Lead #{lead.id} marked booked; its follow-ups are stopped."
    booked = lead_of(sessions, hot.number)
    assert (booked.status, booked.stop_reason, booked.next_action_by) == ("booked", "booked", "closed")
    with sessions() as s:
        results = {t.result for t in s.scalars(select(Touch).where(Touch.lead_id == lead.id))}
    assert results == {"cancelled"}

    other.say("hi")
    other.wait_for_replies(2)
    other_lead = lead_of(sessions, other.number)
    assert "LOST needs a reason" in rep_says(sandbox, f"LOST {other_lead.id}")
    assert "LOST needs a reason" in rep_says(sandbox, f"LOST {other_lead.id} too expensive for them")
    assert rep_says(sandbox, f"lost {other_lead.id} no capacity") == \
        f"Lead #{other_lead.id} marked lost (no_capacity); its follow-ups are stopped."
    lost = lead_of(sessions, other.number)
    assert (lost.status, lost.lost_reason) == ("lost", "no_capacity")
    rep_before = len(messages_to(sandbox, REP_PHONE))
    other.say("hello again?")  # the bot does not restart the questions: the message goes to the rep
    other.assert_no_more(2)
    forwarded = messages_to(sandbox, REP_PHONE)
    assert len(forwarded) == rep_before + 1 and forwarded[-1]["body"] == f"Lead #{other_lead.id}: hello again?"


def test_anything_else_from_a_rep_gets_the_usage_and_makes_no_lead(sandbox, sessions):
    for body in ("what's up", "CLAIM", "BOOKED abc", "CLAIM 99999999"):
        answer = rep_says(sandbox, body)
        assert "CLAIM <lead id>, BOOKED <lead id>, LOST <lead id> <reason>" in answer, answer
    assert rep_says(sandbox, "booked 99999999").startswith("No lead #99999999.")
    with sessions() as s:
        assert s.scalars(select(Lead).where(Lead.phone == REP_PHONE)).first() is None
    assert all(m["from"] == SMS_FROM for m in messages_to(sandbox, REP_PHONE))


def two_rep_playbook(tmp_path, routing=None):
    data = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    data["reps"] = [{"name": "Dana", "phone": "+13035550143"}, {"name": "Eli", "phone": "+13035550144"}]
    if routing is not None:
        data["routing"] = routing
    path = tmp_path / "playbook.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_playbook(path)


def test_round_robin_then_a_routing_rule_on_an_answer(tmp_path, sessions):
    playbook = two_rep_playbook(tmp_path, routing=[{"question": "service_type", "values": ["replacement"], "rep": "Eli"},
                                                  {"question": "postal_code", "values": ["802"], "rep": "Dana"}])
    now = utcnow()
    with sessions.begin() as s:
        leads = [Lead(business_id=1, phone=f"+1720555{9000 + i}", channel="sms", source="test", status="new", answers={},
                      created_at=now)
                 for i in range(4)]
        s.add_all(leads)
        s.flush()
        for lead in leads:
            route_new_lead(s, playbook, lead, captured_at=now)
        owners = [lead.owner for lead in leads]
        assert sorted(owners) == ["Dana", "Dana", "Eli", "Eli"] and owners[0] != owners[1]

        repair, replacement, claimed = leads[0], leads[1], leads[2]
        repair.answers = {"service_type": "repair", "postal_code": "80203"}
        replacement.answers = {"service_type": "replacement", "postal_code": "80203"}
        claimed.answers = {"service_type": "replacement"}
        claimed.owner, claimed.dispatcher = "Dana", "rep:Dana"
        for lead in (repair, replacement, claimed):
            route_on_answers(s, playbook, lead)
        assert (repair.owner, repair.dispatcher) == ("Dana", "rule:postal_code")
        assert (replacement.owner, replacement.dispatcher) == ("Eli", "rule:service_type")
        assert (claimed.owner, claimed.dispatcher) == ("Dana", "rep:Dana")  # a claim beats a rule
        for lead in leads:
            s.delete(lead)


def test_a_routing_rule_must_name_a_question_and_a_rep(tmp_path):
    with pytest.raises(PlaybookError, match="routing.0.rep 'Zed' is not one of the reps"):
        two_rep_playbook(tmp_path, routing=[{"question": "service_type", "values": ["repair"], "rep": "Zed"}])
    with pytest.raises(PlaybookError, match="routing.0.question 'budget' is not a question id"):
        two_rep_playbook(tmp_path, routing=[{"question": "budget", "values": ["high"], "rep": "Eli"}])
