"""Model-drafted follow-ups: checked before sending, a hot lead's draft waits for a rep's YES / EDIT."""

from __future__ import annotations

from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select

from store.models import LlmCall, Message
from tests.conftest import REP_PHONE, Prospect, Stack, fresh_database, lead_of, make_playbook, messages_to, wait_for
from tests.fake_openai import extraction, last_user, text
from tests.test_cadence import daytime_number, redis_db

SECONDS_PER_DAY = 4.0
HOT = ["2", "asap", "80203", "yes"]
WARM = ["3", "3", "80203", "no"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url, fake) -> Any:
    tmp = tmp_path_factory.mktemp("drafts")
    url = redis_db(redis_url, 11)
    Redis.from_url(url).flushdb()
    stack = Stack(tmp, database_url=fresh_database(tmp, "_drafts"), redis_url=url,
                  playbook=make_playbook(tmp, stall_after="100d"), queue_name="draft-tests",
                  openai_api_key="sk-test-not-a-real-key", openai_base_url=f"{fake.url}/v1", llm_model="fake-model",
                  llm_timeout_s=2.0, llm_max_retries=0, cadence_seconds_per_day=SECONDS_PER_DAY)
    yield stack
    stack.close()


def drafting(draft: str) -> Any:
    """Extraction finds nothing; a draft request (no tools) gets ``draft``, naming the lead's number if asked."""
    return lambda body: text(draft) if "tools" not in body else extraction()


def converse(stack: Stack, number: str, answers: list[str]) -> Prospect:
    p = Prospect(stack.sandbox, number)
    p.say("hi")
    p.wait_for_replies(2)
    for n, answer in enumerate(answers, start=1):
        p.say(answer)
        p.wait_for_replies(2 + n)
    return p


def rep_texts(stack: Stack) -> list[str]:
    return [m["body"] for m in messages_to(stack.sandbox, REP_PHONE)]


def test_a_hot_leads_draft_waits_for_the_reps_yes(stack, fake):
    draft = "Hi, it's Summit Roofing again: ready to get that new roof on the calendar? Just reply here."
    fake.respond = drafting(draft)
    p = converse(stack, daytime_number(), HOT)
    lead = lead_of(stack.sessions, p.number)
    ask = wait_for(lambda: next((t for t in rep_texts(stack) if t.startswith(f"Draft for lead #{lead.id} (day1)")), None),
                   timeout=20, what="the approval request")
    assert draft in ask and ask.endswith(f"Reply YES {lead.id} to send it, or EDIT {lead.id} <your text>.")
    p.assert_no_more(6, settle_s=1.0)  # nothing goes to the prospect before a rep says yes
    Prospect(stack.sandbox, REP_PHONE).say(f"YES {lead.id}")
    assert p.wait_for_replies(7)[-1] == draft
    assert wait_for(lambda: f"Lead #{lead.id}: the draft is on its way." in rep_texts(stack))


def test_a_rep_can_edit_the_draft_and_a_reply_in_between_cancels_it(stack, fake):
    fake.respond = drafting("Still thinking about the roof? We have openings this week.")
    edited, replied = converse(stack, daytime_number(), HOT), converse(stack, daytime_number(), HOT)
    for p in (edited, replied):
        prefix = f"Draft for lead #{lead_of(stack.sessions, p.number).id} (day1)"
        wait_for(lambda prefix=prefix: any(t.startswith(prefix) for t in rep_texts(stack)), timeout=20)
    mine = "Hi! Dana here from Summit Roofing. I can come by Thursday at 10 for the estimate. Does that work?"
    Prospect(stack.sandbox, REP_PHONE).say(f"EDIT {lead_of(stack.sessions, edited.number).id} {mine}")
    assert edited.wait_for_replies(7)[-1] == mine

    replied.say("actually we got it fixed, thanks")
    replied_lead = lead_of(stack.sessions, replied.number)
    wait_for(lambda: lead_of(stack.sessions, replied.number).stop_reason == "replied")
    Prospect(stack.sandbox, REP_PHONE).say(f"YES {replied_lead.id}")
    assert wait_for(lambda: next((t for t in rep_texts(stack) if t.startswith(f"Lead #{replied_lead.id}: not sent")),
                                 None)) == f"Lead #{replied_lead.id}: not sent: its cadence stopped (replied)."
    assert all(m["body"] != "Still thinking about the roof? We have openings this week." for m in replied.received())


def test_a_warm_leads_draft_goes_on_its_own_and_a_bad_one_falls_back_to_the_playbook(stack, fake):
    draft = "Hi there, just checking in about your roof inspection. Any questions? Just reply here."
    fake.respond = drafting(draft)
    warm = converse(stack, daytime_number(), WARM)
    assert lead_of(stack.sessions, warm.number).grade in ("C", "D")
    assert wait_for(lambda: warm.received()[-1]["body"] == draft and True, timeout=20, what="the drafted touch")

    fake.respond = drafting("Win a free roof! Enter at https://roof-prizes.example/win or call 720-555-9999.")
    other = converse(stack, daytime_number(), WARM)
    template = "Hi, it's Summit Roofing. Still need help with your roof? Just reply here."
    assert wait_for(lambda: other.received()[-1]["body"] == template and True, timeout=20, what="the playbook's text")
    other_id = lead_of(stack.sessions, other.number).id
    with stack.sessions() as s:
        rejected = s.scalars(select(LlmCall).where(LlmCall.lead_id == other_id, LlmCall.purpose == "draft")).first()
        sent = s.scalars(select(Message).where(Message.lead_id == other_id, Message.kind == "touch")).first()
    assert (rejected.outcome, rejected.reason) == ("invalid", "link not in the playbook: https://roof-prizes.example/win")
    assert sent.body == template
    assert any("Template:" in last_user(b) for b in fake.requests)
