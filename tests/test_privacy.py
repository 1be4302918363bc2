"""Consent records and erasure: what a messaging business owes the people it texts."""

from __future__ import annotations

import subprocess
import sys

import requests
from sqlalchemy import inspect, select, text

from store.db import make_engine
from store.models import ConsentRecord
from store.suppression import is_suppressed
from tests.conftest import API_TOKEN, QUALIFYING_ANSWERS, ROOT, lead_of, settings_env, wait_for


def consents(sessions, phone: str) -> list[tuple[str, str, str, str]]:
    with sessions() as s:
        return [(c.event, c.channel, c.source, c.text) for c in
                s.scalars(select(ConsentRecord).where(ConsentRecord.phone == phone).order_by(ConsentRecord.id))]


def test_consent_is_recorded_with_the_exact_words_and_revocations_are_appended(prospect, web, sessions):
    p = prospect()
    p.say("Hi, I need a quote for my roof")
    p.wait_for_replies(2)
    p.say("STOP")
    wait_for(lambda: lead_of(sessions, p.number).status == "opted_out")
    p.say("start")
    wait_for(lambda: len(consents(sessions, p.number)) == 3)
    form = requests.post(f"{web}/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10, json={
        "event_id": f"consent-{p.number}", "source": "web_form", "channel": "whatsapp", "phone": p.number,
        "consent_text": "I agree to receive texts from Summit Roofing about my request. Reply STOP to opt out."})
    assert form.status_code == 201
    assert consents(sessions, p.number) == [
        ("granted", "sms", "inbound_sms", "Hi, I need a quote for my roof"),
        ("revoked", "any", "keyword", "STOP"),
        ("granted", "any", "keyword", "start"),
        ("granted", "whatsapp", "web_form",
         "I agree to receive texts from Summit Roofing about my request. Reply STOP to opt out."),
    ]


def rows_mentioning(database_url: str, digits: str) -> list[str]:
    """Every row of every table (Leadline's and the checkpointer's) whose text mentions ``digits``."""
    engine = make_engine(database_url)
    found = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                if table == "alembic_version":
                    continue
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    blob = " ".join(v.decode("latin-1") if isinstance(v, (bytes, memoryview)) and not isinstance(v, memoryview)
                                    else bytes(v).decode("latin-1") if isinstance(v, memoryview) else str(v) for v in row)
                    if digits in blob:
                        found.append(f"{table}: {blob[:120]}")
    finally:
        engine.dispose()
    return found


def test_erasure_leaves_nothing_of_the_number_but_its_hashed_opt_out(prospect, web, sessions, settings, redis_conn):
    p = prospect()
    p.say("Hi, I need a new roof")
    p.wait_for_replies(2)
    for n, answer in enumerate(QUALIFYING_ANSWERS, start=1):
        p.say(answer)
        p.wait_for_replies(2 + n)
    requests.post(f"{web}/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10, json={
        "event_id": f"erase-{p.number}", "source": "web_form", "channel": "whatsapp", "phone": p.number,
        "name": "Erin Erased", "email": "erin@example.com"}).raise_for_status()
    wait_for(lambda: lead_of(sessions, p.number, "whatsapp").status == "contacted")
    p.say("STOP")
    wait_for(lambda: lead_of(sessions, p.number).status == "opted_out")
    digits = p.number[2:]
    assert rows_mentioning(settings.database_url, digits), "the number is stored before erasure"

    refused = requests.post(f"{web}/privacy/erase", json={"phone": p.number}, timeout=10)
    assert refused.status_code == 401
    bad = requests.post(f"{web}/privacy/erase", json={"phone": "12"}, timeout=10,
                        headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "phone"
    answer = requests.post(f"{web}/privacy/erase", json={"phone": p.number}, timeout=30,
                           headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 200
    erased = answer.json()["erased"]
    assert erased["leads"] == 2 and erased["messages"] >= 12 and erased["consent_records"] >= 3

    assert rows_mentioning(settings.database_url, digits) == []
    assert rows_mentioning(settings.database_url, "Erin Erased") == []
    assert not [k for k in redis_conn.scan_iter(match=f"*{digits}*")]
    with sessions() as s:
        assert is_suppressed(s, business_id=1, address=p.number), "an opted-out number stays opted out"
    p.say("hello again")  # still nothing goes to it, and nothing is sent
    p.assert_no_more(6)


def test_leadline_erase_on_the_command_line(prospect, settings, sessions):
    p = prospect()
    p.say("hi there")
    p.wait_for_replies(2)
    run = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "erase", p.number, "--yes"],
                         env=settings_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("leads: 1, messages: 3,")
    assert rows_mentioning(settings.database_url, p.number[2:]) == []
    with sessions() as s:
        assert not is_suppressed(s, business_id=1, address=p.number)  # it never opted out: erasure adds no opt-out
    bad = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "erase", "not-a-number", "--yes"],
                         env=settings_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "PHONE" in bad.stderr


def test_an_erasure_request_that_is_not_a_plain_number_is_422(web):
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    nested = requests.post(f"{web}/privacy/erase", data="[" * 30000, timeout=10,
                           headers={**auth, "Content-Type": "application/json"})
    assert nested.status_code == 422  # JSON nested too deeply: not a server error
    for given in ("+1303555ABCD", "whatsapp:+13035550100", ["+13035550100"]):
        answer = requests.post(f"{web}/privacy/erase", json={"phone": given}, headers=auth, timeout=10)
        assert answer.status_code == 422 and answer.json()["fields"][0]["field"] == "phone", given
