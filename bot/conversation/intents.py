"""The intents code acts on instead of the conversation: opt-out in words, a wish for a person, anger, a wrong
number; and when a language model is asked about a message (``graph.understanding``).

Acting on an intent needs corroboration or confirmation (:func:`intent_to_act_on`). The words themselves
(``graph.reading.intents``) are enough: "stop texting me", "wrong number", "a real person". A model alone is
believed for an opt-out (honouring a false one costs a lead; missing a real one breaks the FCC's
revoke-by-any-reasonable-means rule), a wish for a person and anger (a rep reading it costs little); its
``wrong_number`` alone only asks ("Did we reach the wrong person? Reply YES…", ``replies.wrong_number_check``), and
the lead is closed on a yes to that question.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.replies import reply_to
from bot.conversation.thread import LeadRef, TurnResult
from bot.delivery.rep_texts import notify_owner
from bot.reps import actions as lead_actions
from cadence import enrollment
from graph.parsing import parse_yes_no
from graph.playbook import Question
from graph.reading.language import take_language
from graph.reading.message import read_message
from graph.texts import placeholders_for, render
from graph.understanding import acted_intent, settled_without_model, to_ask
from runtime import Runtime
from store import consent
from store.leads import CLOSED_STATUSES, add_activity, mark_processed, set_status, wrong_number_asked
from store.models import Lead, Message

log = logging.getLogger(__name__)

CONFIRM = Question(id="wrong_number_check", type="yes_no", ask="Did we reach the wrong person?")
"""The wrong-number question, read as any yes/no answer ("yes", "sí", "yep, wrong person")."""


def understand(rt: Runtime, lead: LeadRef, *, turn: str, body: str, tap: str | None = None) -> dict[str, Any] | None:
    """A model's proposal for an inbound message, or None: no model configured, a tapped button, the turn
    already ran, or the deterministic reading settles the message (``graph.understanding.settled_without_model``:
    the model is asked only about what it did not read), or the call failed."""
    if rt.llm is None or not body.strip() or tap:
        return None
    saved = rt.graph.get_state(lead.config).values
    if saved.get("last_turn") == turn:
        return None
    pending = rt.playbook.questions[saved["question_index"]].id if saved.get("phase") == "asking" else None
    answered = {qid for qid, value in (saved.get("answers") or {}).items() if value is not None}
    reading = read_message(rt.playbook, body, pending=pending)
    if settled_without_model(rt.playbook, reading, pending=pending, answered=answered, text=body):
        return None
    return rt.llm.understand(body, pending=pending, lead_id=lead.id, ask=to_ask(rt.playbook, reading, answered=answered))


def intent_to_act_on(session: Session, rt: Runtime, *, lead_id: int, message_id: int, body: str,
                     understanding: dict[str, Any] | None) -> str | None:
    """The intent to act on for inbound message ``message_id``, or None to run the conversation: one of
    :data:`graph.understanding.ACTION_INTENTS`, or ``wrong_number_check`` (ask before closing).

    In order: the message's own words (``graph.reading.intents.said_intent``); a yes to our wrong-number
    question, sent in reply to the lead's previous message; then the model's intent, a ``wrong_number`` from it
    alone becoming ``wrong_number_check``."""
    confirmed = parse_yes_no(CONFIRM, body) is True and \
        wrong_number_asked(session, lead_id=lead_id, before_message_id=message_id)
    return acted_intent(body, understanding, wrong_number_confirmed=confirmed)


def act_on_intent(session: Session, rt: Runtime, *, lead_id: int, message_id: int, body: str,
                  intent: str, understanding: dict[str, Any] | None) -> TurnResult:
    """Intents code acts on instead of the conversation.

    ``opt_out`` in words is a STOP (the number is suppressed on every channel); ``wants_human``
    and ``angry`` hand the lead to its owner (the bot goes silent, the rep is told); a
    ``wrong_number`` gets an apology and the lead is closed as lost (``other``); a
    ``wrong_number_check`` asks whether we reached the wrong person and changes nothing else.
    ``understanding``: a model's proposal, or None (the intent was read from the words).
    """
    lead, message = session.get(Lead, lead_id), session.get(Message, message_id)
    if lead is None or message is None:  # erased since the turn began (run_turn read both): nothing to act on
        return TurnResult()
    mark_processed(session, message_id=message_id)
    add_activity(session, lead_id=lead.id, kind="intent", intent=intent, message_id=message_id)
    if intent == "opt_out":
        consent.opt_out(session, business_id=lead.business_id, phone=lead.phone, keyword="in words", source="words", text=body)
        return TurnResult()
    language = conversation_language(rt, LeadRef(id=lead.id, business_id=lead.business_id, phone=lead.phone, channel=lead.channel,
                                                 name=lead.profile_name), understanding, body)
    texts = placeholders_for(rt.playbook, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                             answers=lead.answers or {})
    queued: list[int | None] = []
    if intent == "wrong_number_check":
        queued += reply_to(session, rt, lead, message, render(rt.playbook.text("replies.wrong_number_check", language),
                                                              **texts))
        return TurnResult(outbox_ids=[i for i in queued if i])
    if intent == "wrong_number":
        queued += reply_to(session, rt, lead, message,
                         render(rt.playbook.text("replies.wrong_number", language), **texts))
        set_status(session, lead=lead, status="lost", lost_reason="other")
        enrollment.stop(session, lead, reason="closed")
        return TurnResult(outbox_ids=[i for i in queued if i])
    owner = rt.playbook.rep_named(lead.owner) or rt.playbook.reps[0]
    texts["rep"] = owner.name
    queued += reply_to(session, rt, lead, message,
                     render(rt.playbook.text("replies.handoff", language), **texts))
    if lead.status not in CLOSED_STATUSES:
        lead_actions.take_over(session, lead, rep=owner.name)
    why = "asks for a person" if intent == "wants_human" else "sounds upset"
    queued += notify_owner(session, rt, lead, f"Lead #{lead.id} {why}; the bot has stepped back. "
                                        f"They wrote: {body}"[:1500], key=f"intent:{message_id}")
    return TurnResult(outbox_ids=[i for i in queued if i])


def conversation_language(rt: Runtime, lead: LeadRef, understanding: dict[str, Any] | None, text: str) -> str | None:
    """The conversation's language (the graph's; else ``text``'s, detected offline or a model's reading the
    detector leans to) when the playbook has texts in it."""
    saved = rt.graph.get_state(lead.config).values
    languages = (rt.playbook.business.language, *rt.playbook.locales)
    language = saved.get("language") or take_language(text, languages, (understanding or {}).get("language"))
    return language if language in rt.playbook.locales else None
