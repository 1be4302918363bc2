"""One conversation turn: an inbound message in, outbox rows and lead updates out.

A turn is safe to run again after a crash at any point:

0. a turn that fails is retried only while a dependency is away, at most ``TURN_MAX_ATTEMPTS`` times;
   otherwise its message is dead-lettered (:mod:`bot.conversation.dead_letters`) and the sender's later
   messages flow. STOP behind a failing message is applied at once
   (:func:`bot.conversation.compliance.opt_outs_first`), before anything that can fail;

1. compliance keywords (STOP/START/HELP) are applied in one transaction with the
   message marked processed;
2. the graph runs once per turn key (``in:<message id>``, ``start:<capture id>``): its
   checkpoint records ``last_turn``, so a re-run reads the saved replies instead of
   advancing the conversation twice;
3. replies, rep alerts and the lead's new score and status are written in one
   transaction, outbox rows keyed by ``reply:<message id>:<n>`` so they exist once.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.alerts import rep_alerts
from bot.conversation.compliance import compliance
from bot.conversation.intents import act_on_intent, intent_to_act_on, understand
from bot.conversation.keywords import classify, normalize
from bot.conversation.thread import LeadRef, TurnResult, run_graph
from bot.delivery.buttons import content_sid_for, with_buttons
from bot.delivery.rep_texts import notify_owner
from bot.delivery.senders import reply_route
from bot.reps import actions as lead_actions
from bot.reps import commands as rep_commands
from bot.reps.assignment import route_new_lead, route_on_answers
from cadence import enrollment
from cadence.clock import lead_timezone
from graph.buttons import read_tap
from graph.playbook import Playbook, Rep
from runtime import Runtime
from store import consent, outbox
from store.addresses import channel_of, phone_of
from store.leads import attach_to_lead, first_capture, mark_processed, set_status
from store.models import Lead, Message

log = logging.getLogger(__name__)

REP_HANDLED = ("booked", "won", "lost")
"""Statuses a person or a booking set: the lead's later messages go to its rep, not through the bot."""




def run_turn(rt: Runtime, message_id: int) -> TurnResult:
    """Run the turn for inbound message ``message_id``; returns what it queued."""
    version_id = rt.business.version_id  # resolved before the transaction: it may record the playbook's version
    with rt.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is None or message.processed_at is not None:
            return TurnResult()
        lead = message.lead
        if lead is None:
            rep = _rep_sender(rt, message)
            if rep is not None:
                queued = _from_rep(session, rt, message, rep)
                mark_processed(session, message_id=message_id)
                return TurnResult(outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
            lead = attach_to_lead(session, message, playbook_version_id=version_id)
            rt = rt.for_lead(lead.business_id, lead.playbook_version_id)  # the version its conversation started on
            if lead.owner is None:  # first contact: the prospect wrote first, which is their consent to a reply
                consent.record(session, business_id=lead.business_id, phone=lead.phone, channel=lead.channel,
                               event="granted", source=lead.source, text=message.body or "", lead_id=lead.id)
            if lead.timezone is None:
                lead.timezone = lead_timezone(lead.phone, rt.playbook.business.timezone)
            if lead.owner is None:
                route_new_lead(session, rt.playbook, lead, captured_at=lead.created_at)
            _replied(session, lead, message)
        else:
            rt = rt.for_lead(lead.business_id, lead.playbook_version_id)
        early = compliance(session, rt, message, lead)
        if early is not None:
            mark_processed(session, message_id=message_id)
            return TurnResult(outbox_ids=early)
        if lead.taken_over_by or lead.status in REP_HANDLED:  # a person has it: the bot stays silent, forwards it
            forwarded = notify_owner(
                session, rt, lead, f"{lead.profile_name or 'Lead'} #{lead.id}: {message.body or '(media)'}"[:1500],
                key=f"fwd:{message_id}")
            mark_processed(session, message_id=message_id)
            return TurnResult(outbox_ids=forwarded)
        ref = LeadRef(id=lead.id, business_id=lead.business_id, phone=lead.phone, channel=lead.channel,
                      name=lead.profile_name)
        body, tap = message.body or "", message.tapped
    turn = f"in:{message_id}"
    # A tap on one of our buttons is an exact answer (graph.buttons.read_tap): nothing for a model to read.
    understanding = understand(rt, ref, turn=turn, body=body, tap=tap if read_tap(rt.playbook, tap) else None)
    if not read_tap(rt.playbook, tap):
        with rt.sessions.begin() as session:
            intent = intent_to_act_on(session, rt, lead_id=ref.id, message_id=message_id, body=body,
                                      understanding=understanding)
            if intent is not None:
                return act_on_intent(session, rt, lead_id=ref.id, message_id=message_id, body=body, intent=intent,
                                     understanding=understanding)
    values = run_graph(rt, ref, turn=turn, body=body, understanding=understanding, tap=tap)
    with rt.sessions.begin() as session:
        return apply_turn(session, rt, lead_id=ref.id, message_id=message_id, values=values)


def apply_turn(session: Session, rt: Runtime, *, lead_id: int, message_id: int, values: dict[str, Any]) -> TurnResult:
    """Write a turn's results: outbox rows for replies and rep alerts, the lead's answers, score and status,
    and the cadence it enrolls in or stops."""
    lead = session.get(Lead, lead_id)
    if lead is None:  # erased since the turn began (run_turn read it), and its messages with it
        return TurnResult()
    first_outcome = bool(values.get("outcome")) and lead.score_total is None
    route = reply_route(rt.business, business_address=lead.business_address or "")
    replies: list[str] = values.get("replies") or []
    buttons = content_sid_for(session, rt.playbook, channel=lead.channel, question_id=values.get("asking"),
                              language=values.get("language"))
    queued = [
        outbox.add_outbound(session, business_id=lead.business_id, lead_id=lead.id, kind="reply", to_address=lead.address,
                            body=text,
                            dedupe_key=f"reply:{message_id}:{n}", from_address=route.from_address,
                            messaging_service_sid=route.messaging_service_sid,
                            **with_buttons(buttons if n == len(replies) - 1 else None, text))
        for n, text in enumerate(replies)
    ]
    _record_progress(session, rt.playbook, lead, values)  # first: a routing rule may change the owner to alert
    if values.get("rep_alert"):
        queued += rep_alerts(session, rt, lead, values["rep_alert"], hot=values["score"]["total"] >= rt.playbook.scoring.hot_at)
    touch_ids = _follow_up(session, rt, lead, values["outcome"]) if first_outcome else []
    mark_processed(session, message_id=message_id)
    still_open = values.get("phase") == "asking" and lead.status in ("new", "contacted")
    return TurnResult(outbox_ids=[i for i in queued if i is not None], touch_ids=touch_ids,
                      awaiting_lead=lead.id if still_open else None, outcome_lead=lead.id if first_outcome else None)


def _rep_sender(rt: Runtime, message: Message) -> Rep | None:
    """The rep who sent ``message`` from their rep phone and channel, or None for a prospect."""
    sender = message.from_address
    if sender is None:  # only outbound rows lack one
        return None
    rep = rt.playbook.rep_for_phone(phone_of(sender))
    return rep if rep is not None and rep.channel == channel_of(sender) else None


def _from_rep(session: Session, rt: Runtime, message: Message, rep: Rep) -> lead_actions.AfterCommit:
    """A rep's text: STOP and START apply to the rep's number as to anyone's; the rest is a rep command."""
    keyword = classify(message.body or "")
    if keyword == "opt_out":
        consent.opt_out(session, business_id=message.business_id, phone=rep.phone, keyword=normalize(message.body),
                        text=message.body)
        return lead_actions.AfterCommit()
    if keyword == "opt_in":
        consent.opt_in(session, business_id=message.business_id, phone=rep.phone, text=message.body or "")
    return rep_commands.handle(session, rt, message, rep)


def _replied(session: Session, lead: Lead, message: Message) -> None:
    """Any message from the lead stops its cadence (STOP records its own reason) and wakes a dormant lead."""
    if classify(message.body or "") == "opt_out":
        return
    enrollment.stop(session, lead, reason="replied")
    if lead.status == "dormant":
        set_status(session, lead=lead, status="contacted")


def _follow_up(session: Session, rt: Runtime, lead: Lead, outcome: str) -> list[int]:
    """On reaching an outcome: nurture and qualified-but-not-booked leads are enrolled; disqualified ones stop."""
    if outcome == "disqualified":
        enrollment.stop(session, lead, reason="not_serviceable")
        return []
    if lead.status in ("contacted", "qualified"):
        return enrollment.enroll(session, rt, lead, why="qualified_not_booked" if outcome == "qualified" else "nurture")
    return []


def _record_progress(session: Session, playbook: Playbook, lead: Lead, values: dict[str, Any]) -> None:
    answers = values.get("answers") or {}
    lead.answers = answers
    capture = first_capture(session, lead_id=lead.id)
    if capture is not None:
        capture.service_type = _text(answers.get("service_type"))
        capture.urgency = _text(answers.get("urgency"))
    score = values.get("score")
    if score:
        lead.score_total, lead.grade = score["total"], score["grade"]
        lead.score_fit, lead.score_intent, lead.score_engagement = score["fit"], score["intent"], score["engagement"]
        lead.score_breakdown = score["items"]
        lead.estimated_value_usd = score["estimated_value_usd"]
    if lead.status == "new":
        set_status(session, lead=lead, status="contacted")
    if lead.status == "disqualified" and values.get("phase") == "asking":  # a corrected ZIP code inside the area
        set_status(session, lead=lead, status="contacted")  # (graph.answering): asked on, its outcome to come
        lead.score_total = lead.grade = None
    if lead.status != "contacted":
        return  # booked, lost, opted out…: a late turn never walks a lead back
    outcome = values.get("outcome")
    if outcome == "qualified":
        set_status(session, lead=lead, status="qualified")
        route_on_answers(session, playbook, lead)
    elif outcome == "disqualified":
        set_status(session, lead=lead, status="disqualified", lost_reason="not_serviceable")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
