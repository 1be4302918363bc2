"""One conversation turn: an inbound message in, outbox rows and lead updates out.

A turn is safe to run again after a crash at any point:

0. a turn that fails is retried only while a dependency is away (:mod:`bot.conversation.failures`), at most
   ``TURN_MAX_ATTEMPTS`` times; otherwise its message is dead-lettered (:func:`turn_failed`) and the
   sender's later messages flow. STOP behind a failing message is applied at once
   (:func:`opt_outs_first`), before anything that can fail;

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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.conversation.failures import is_transient
from bot.conversation.keywords import classify, normalize
from bot.delivery.rep_texts import notify_owner
from bot.delivery.senders import address_for, business_route, reply_route
from bot.logs import mask
from bot.reps import actions as lead_actions
from bot.reps import commands as rep_commands
from bot.reps.assignment import route_new_lead, route_on_answers
from cadence import enrollment
from cadence.clock import lead_timezone, next_call_opening, whatsapp_window_open
from graph.context import TurnContext
from graph.playbook import Playbook, Rep
from graph.texts import placeholders_for, render
from graph.understanding import ACTION_INTENTS, sure_without_model
from runtime import Runtime
from store import consent, outbox
from store.checkpoints import prune_thread
from store.inbound import count_failure, pending_after, set_aside
from store.leads import CLOSED_STATUSES, add_activity, attach_to_lead, lead_for_address, mark_processed, set_status
from store.models import CaptureEvent, Lead, Message, utcnow
from store.suppression import is_suppressed

log = logging.getLogger(__name__)

REP_HANDLED = ("booked", "won", "lost")
"""Statuses a person or a booking set: the lead's later messages go to its rep, not through the bot."""

PRUNE_EVERY_TURNS = 1
"""A conversation's old checkpoints are dropped every this many turns (at most this many are kept). Every
turn keeps the database flat per turn (bench/turns.py: 15 KB per 10-turn conversation on SQLite); Postgres's
prune costs a few milliseconds a turn, which a larger value would spread."""



@dataclass(frozen=True)
class TurnResult:
    """What a committed turn left to do: outbox rows to send and touches to put in Redis."""

    outbox_ids: list[int] = field(default_factory=list)
    touch_ids: list[int] = field(default_factory=list)
    awaiting_lead: int | None = None
    """The lead, when the turn left its qualification open (a stall check is due after ``stall_after``)."""
    outcome_lead: int | None = None
    """The lead, when this turn brought it to an outcome (its CRM note is due)."""


@dataclass(frozen=True)
class LeadRef:
    """The few lead facts a turn needs outside a database session."""

    id: int
    phone: str
    channel: str
    name: str | None

    @property
    def thread_id(self) -> str:
        """The conversation's checkpointer thread: one per (channel, phone)."""
        return f"{self.channel}:{self.phone}"


def run_turn(rt: Runtime, message_id: int) -> TurnResult:
    """Run the turn for inbound message ``message_id``; returns what it queued."""
    with rt.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is None or message.processed_at is not None:
            return TurnResult()
        if message.lead_id is None:
            rep = _rep_sender(rt, message)
            if rep is not None:
                queued = _from_rep(session, rt, message, rep)
                mark_processed(session, message_id=message_id)
                return TurnResult(outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
            lead = attach_to_lead(session, message)
            if lead.owner is None:  # first contact: the prospect wrote first, which is their consent to a reply
                consent.record(session, phone=lead.phone, channel=lead.channel, event="granted",
                               source=lead.source, text=message.body or "", lead_id=lead.id)
            if lead.timezone is None:
                lead.timezone = lead_timezone(lead.phone, rt.playbook.business.timezone)
            if lead.owner is None:
                route_new_lead(session, rt.playbook, lead, captured_at=lead.created_at)
            _replied(session, lead, message)
        else:
            lead = message.lead
        early = _compliance(session, rt, message, lead)
        if early is not None:
            mark_processed(session, message_id=message_id)
            return TurnResult(outbox_ids=early)
        if lead.taken_over_by or lead.status in REP_HANDLED:  # a person has it: the bot stays silent, forwards it
            forwarded = notify_owner(
                session, rt, lead, f"{lead.profile_name or 'Lead'} #{lead.id}: {message.body or '(media)'}"[:1500],
                key=f"fwd:{message_id}")
            mark_processed(session, message_id=message_id)
            return TurnResult(outbox_ids=forwarded)
        ref = LeadRef(id=lead.id, phone=lead.phone, channel=lead.channel, name=lead.profile_name)
        body = message.body or ""
    turn = f"in:{message_id}"
    understanding = understand(rt, ref, turn=turn, body=body)
    if understanding is not None and understanding["intent"] in ACTION_INTENTS:
        with rt.sessions.begin() as session:
            return act_on_intent(session, rt, lead_id=ref.id, message_id=message_id, body=body,
                                 understanding=understanding)
    values = run_graph(rt, ref, turn=turn, body=body, understanding=understanding)
    with rt.sessions.begin() as session:
        return apply_turn(session, rt, lead_id=ref.id, message_id=message_id, values=values)


def opt_outs_first(rt: Runtime, sender: str, *, after: int) -> int:
    """Apply every STOP the sender sent after message ``after`` now, ahead of that message's turn.

    Used when ``after``'s turn has failed: whatever becomes of it, the opt-out takes effect within
    seconds (TCPA and CTIA: an opt-out is honoured at once), and nothing more is sent to the number
    (every send re-checks the suppression list). Only keyword matching runs before the opt-out is
    written, so nothing about the message can make this fail. Each STOP is marked processed;
    every other message keeps its place in the conversation. Returns how many were applied.
    """
    phone = sender.removeprefix("whatsapp:")
    channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
    applied = 0
    with rt.sessions.begin() as session:
        for message in pending_after(session, from_address=sender, after_id=after):
            if classify(message.body or "") != "opt_out":
                continue
            consent.opt_out(session, phone=phone, keyword=normalize(message.body), text=message.body)
            lead = lead_for_address(session, channel=channel, phone=phone)
            if lead is not None and message.lead_id is None:
                message.lead_id = lead.id
                add_activity(session, lead_id=lead.id, kind="message", direction="inbound", message_id=message.id)
            mark_processed(session, message_id=message.id)
            applied += 1
    if applied:
        log.warning("applied %s opt-out(s) ahead of message %s, whose turn failed", applied, after)
    return applied


def turn_failed(rt: Runtime, *, sender: str, message_id: int, exc: BaseException) -> bool:
    """After inbound message ``message_id``'s turn raised ``exc``: apply the sender's later STOPs at once, count
    the failure, and dead-letter the message when retrying cannot help (not transient) or has not helped
    (``TURN_MAX_ATTEMPTS`` reached). Returns True when the message was set aside (the caller goes on to the
    sender's next message), False when the turn should be retried (the caller re-raises).

    A set-aside message is kept with the error's type, shown on the lead's timeline, and counted
    (``/stats`` ``dead_letters``, ``/metrics`` ``leadline_messages{direction="inbound",status="dead_lettered"}``).
    """
    transient = is_transient(exc)
    try:
        opt_outs_first(rt, sender, after=message_id)
        with rt.sessions.begin() as session:
            failures = count_failure(session, message_id=message_id)
            if transient and failures < rt.settings.turn_max_attempts:
                return False
            error = mask(f"{type(exc).__name__}: {exc}".splitlines()[0])
            message = set_aside(session, message_id=message_id, error=error)
            if message is not None and message.lead_id is not None:
                add_activity(session, lead_id=message.lead_id, kind="dead_letter", message_id=message_id,
                             error=type(exc).__name__, attempts=failures,
                             text="This message could not be processed; the conversation went on without it.")
    except Exception:  # the database is away too: RQ retries the job, and the next failure counts
        log.warning("could not record the failure of message %s's turn", message_id, exc_info=True)
        return False
    log.error("dead-lettered message %s after %s attempt(s): %s (%s)", message_id, failures, type(exc).__name__,
              "transient, attempts used up" if transient else "not transient")
    return True


def understand(rt: Runtime, lead: LeadRef, *, turn: str, body: str) -> dict[str, Any] | None:
    """A model's proposal for an inbound message, or None: no model configured, the turn already ran,
    the deterministic parser is sure (a short answer it reads costs no model call), or the call failed."""
    if rt.llm is None or not body.strip():
        return None
    saved = rt.graph.get_state({"configurable": {"thread_id": lead.thread_id}}).values
    if saved.get("last_turn") == turn:
        return None
    pending = rt.playbook.questions[saved["question_index"]] if saved.get("phase") == "asking" else None
    if sure_without_model(pending, body):
        return None
    return rt.llm.understand(body, pending=pending.id if pending else None, lead_id=lead.id)


def act_on_intent(session: Session, rt: Runtime, *, lead_id: int, message_id: int, body: str,
                  understanding: dict[str, Any]) -> TurnResult:
    """Intents code acts on instead of the conversation.

    ``opt_out`` in words is a STOP (the number is suppressed on every channel); ``wants_human``
    and ``angry`` hand the lead to its owner (the bot goes silent, the rep is told); a
    ``wrong_number`` gets an apology and the lead is closed as lost (``other``).
    """
    lead = session.get(Lead, lead_id)
    intent = understanding["intent"]
    mark_processed(session, message_id=message_id)
    add_activity(session, lead_id=lead.id, kind="intent", intent=intent, message_id=message_id)
    if intent == "opt_out":
        consent.opt_out(session, phone=lead.phone, keyword="in words", source="words", text=body)
        return TurnResult()
    language = understanding.get("language") if understanding.get("language") in rt.playbook.locales else None
    texts = placeholders_for(rt.playbook, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                             answers=lead.answers or {})
    queued: list[int | None] = []
    if intent == "wrong_number":
        queued += _reply(session, rt, lead, session.get(Message, message_id),
                         render(rt.playbook.text("replies.wrong_number", language), **texts))
        set_status(session, lead=lead, status="lost", lost_reason="other")
        enrollment.stop(session, lead, reason="closed")
        return TurnResult(outbox_ids=[i for i in queued if i])
    owner = rt.playbook.rep_named(lead.owner) or rt.playbook.reps[0]
    texts["rep"] = owner.name
    queued += _reply(session, rt, lead, session.get(Message, message_id),
                     render(rt.playbook.text("replies.handoff", language), **texts))
    if lead.status not in CLOSED_STATUSES:
        lead_actions.take_over(session, lead, rep=owner.name)
    why = "asks for a person" if intent == "wants_human" else "sounds upset"
    queued += notify_owner(session, rt, lead, f"Lead #{lead.id} {why}; the bot has stepped back. "
                                        f"They wrote: {body}"[:1500], key=f"intent:{message_id}")
    return TurnResult(outbox_ids=[i for i in queued if i])


def start_conversation(rt: Runtime, *, lead_id: int, capture_id: int) -> TurnResult:
    """The T+0 first touch for a lead captured from a form, an ad or a CRM: greeting and first question.

    On WhatsApp, with no message from the lead in the last 24 hours, only an approved
    template may open the conversation (WhatsApp Business policy): the playbook's
    ``cadence.first_touch_template``, or nothing (recorded) when there is none.
    """
    turn = f"start:{capture_id}"
    with rt.sessions.begin() as session:
        lead = session.get(Lead, lead_id)
        if lead is None or lead.status == "opted_out" or is_suppressed(session, address=lead.address):
            return TurnResult()
        ref = LeadRef(id=lead.id, phone=lead.phone, channel=lead.channel, name=lead.profile_name)
    config = {"configurable": {"thread_id": ref.thread_id}}
    saved = rt.graph.get_state(config).values
    if saved and saved.get("last_turn") != turn:
        rt.graph.checkpointer.delete_thread(ref.thread_id)  # a new capture starts the conversation afresh
    values = run_graph(rt, ref, turn=turn, body="")
    with rt.sessions.begin() as session:
        lead = session.get(Lead, lead_id)
        route = business_route(rt.settings, channel=lead.channel)
        texts = placeholders_for(rt.playbook, name=lead.profile_name, phone=lead.phone, lead_ref=f"lead-{lead.id}",
                                 answers={})
        queued: list[int | None] = []
        template = rt.playbook.cadence.first_touch_template
        if lead.channel == "whatsapp" and not whatsapp_window_open(lead.last_inbound_at, utcnow()):
            if template is None:
                add_activity(session, lead_id=lead.id, kind="note",
                             text="First touch not sent: WhatsApp needs a template (cadence.first_touch_template).")
            else:
                queued.append(outbox.add_outbound(
                    session, lead_id=lead.id, kind="first_touch", to_address=lead.address, body=None,
                    dedupe_key=f"{turn}:0", from_address=route.from_address,
                    messaging_service_sid=route.messaging_service_sid, content_sid=template.content_sid,
                    content_variables={k: render(v, **texts) for k, v in template.variables.items()}))
        else:
            queued += [outbox.add_outbound(session, lead_id=lead.id, kind="first_touch", to_address=lead.address,
                                           body=text, dedupe_key=f"{turn}:{n}", from_address=route.from_address,
                                           messaging_service_sid=route.messaging_service_sid)
                       for n, text in enumerate(values.get("replies") or [])]
        if lead.status == "new":
            set_status(session, lead=lead, status="contacted")
    return TurnResult(outbox_ids=[i for i in queued if i is not None], awaiting_lead=lead_id)


def run_graph(rt: Runtime, lead: LeadRef, *, turn: str, body: str,
              understanding: dict[str, Any] | None = None) -> dict[str, Any]:
    """The graph's state after ``turn``, running it only if it has not run yet.

    ``understanding`` is a model's proposal for ``body`` (``graph.understanding.clean``), or None.
    """
    config = {"configurable": {"thread_id": lead.thread_id}}
    saved = rt.graph.get_state(config).values
    if saved.get("last_turn") == turn:
        return saved
    context = TurnContext(playbook=rt.playbook, phone=lead.phone, name=lead.name, lead_ref=f"lead-{lead.id}")
    values = rt.graph.invoke({"inbound": body, "turn": turn, "understanding": understanding}, config, context=context,
                             durability="exit")
    if values.get("turns_taken", 0) % PRUNE_EVERY_TURNS == 0:
        try:
            prune_thread(rt.graph.checkpointer, lead.thread_id)
        except Exception:  # housekeeping: a later turn prunes again
            log.warning("could not prune the checkpoints of a conversation", exc_info=True)
    return values


def apply_turn(session: Session, rt: Runtime, *, lead_id: int, message_id: int, values: dict[str, Any]) -> TurnResult:
    """Write a turn's results: outbox rows for replies and rep alerts, the lead's answers, score and status,
    and the cadence it enrolls in or stops."""
    lead = session.get(Lead, lead_id)
    first_outcome = bool(values.get("outcome")) and lead.score_total is None
    route = reply_route(rt.settings, business_address=lead.business_address or "")
    queued = [
        outbox.add_outbound(session, lead_id=lead.id, kind="reply", to_address=lead.address, body=text,
                            dedupe_key=f"reply:{message_id}:{n}", from_address=route.from_address,
                            messaging_service_sid=route.messaging_service_sid)
        for n, text in enumerate(values.get("replies") or [])
    ]
    _record_progress(session, rt.playbook, lead, values)  # first: a routing rule may change the owner to alert
    if values.get("rep_alert"):
        queued += _rep_alerts(session, rt, lead, values["rep_alert"], hot=values["score"]["total"] >= rt.playbook.scoring.hot_at)
    touch_ids = _follow_up(session, rt, lead, values["outcome"]) if first_outcome else []
    mark_processed(session, message_id=message_id)
    still_open = values.get("phase") == "asking" and lead.status in ("new", "contacted")
    return TurnResult(outbox_ids=[i for i in queued if i is not None], touch_ids=touch_ids,
                      awaiting_lead=lead.id if still_open else None, outcome_lead=lead.id if first_outcome else None)


def _rep_sender(rt: Runtime, message: Message) -> Rep | None:
    """The rep who sent ``message`` from their rep phone and channel, or None for a prospect."""
    phone = message.from_address.removeprefix("whatsapp:")
    rep = rt.playbook.rep_for_phone(phone)
    channel = "whatsapp" if message.from_address.startswith("whatsapp:") else "sms"
    return rep if rep is not None and rep.channel == channel else None


def _from_rep(session: Session, rt: Runtime, message: Message, rep: Rep) -> lead_actions.Queued:
    """A rep's text: STOP and START apply to the rep's number as to anyone's; the rest is a rep command."""
    keyword = classify(message.body or "")
    if keyword == "opt_out":
        consent.opt_out(session, phone=rep.phone, keyword=normalize(message.body), text=message.body)
        return lead_actions.Queued()
    if keyword == "opt_in":
        consent.opt_in(session, phone=rep.phone, text=message.body or "")
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


def _compliance(session: Session, rt: Runtime, message: Message, lead: Lead) -> list[int] | None:
    """Apply STOP/START/HELP and the opt-out state; None when the graph should run."""
    keyword = classify(message.body or "")
    if keyword == "opt_out":
        consent.opt_out(session, phone=lead.phone, keyword=normalize(message.body), text=message.body)
        return []
    if is_suppressed(session, address=lead.address):
        if keyword == "opt_in" and consent.opt_in(session, phone=lead.phone, text=message.body or ""):
            text = render(rt.playbook.business.resubscribed_text, business=rt.playbook.business.name)
            return _reply(session, rt, lead, message, text)
        if lead.status != "opted_out":  # first contact on another channel after the opt-out
            set_status(session, lead=lead, status="opted_out", lost_reason="opted_out")
        return []  # opted out: the message is kept, nothing is sent
    if keyword == "help":
        return _reply(session, rt, lead, message, rt.playbook.business.help_text)
    return None


def _reply(session: Session, rt: Runtime, lead: Lead, message: Message, text: str) -> list[int]:
    route = reply_route(rt.settings, business_address=lead.business_address or "")
    row = outbox.add_outbound(session, lead_id=lead.id, kind="help", to_address=lead.address, body=text,
                              dedupe_key=f"reply:{message.id}:0", from_address=route.from_address,
                              messaging_service_sid=route.messaging_service_sid)
    return [row] if row else []


def _rep_alerts(session: Session, rt: Runtime, lead: Lead, text: str, *, hot: bool) -> list[int | None]:
    """Alert the lead's owner (every rep when it has none); a HOT lead's call alert waits for the call window
    (in the lead's local time)."""
    send_after = None
    if hot:
        now = utcnow()
        opening = next_call_opening(now, lead.timezone or rt.playbook.business.timezone, rt.playbook.cadence.call_window)
        lead.call_alert_at = opening
        send_after = opening if opening > now else None
    ids = []
    owner = rt.playbook.rep_named(lead.owner)
    for rep in [owner] if owner else rt.playbook.reps:
        route = business_route(rt.settings, channel=rep.channel)
        ids.append(outbox.add_outbound(
            session, lead_id=lead.id, kind="rep_alert", to_address=address_for(rep.phone, rep.channel), body=text,
            dedupe_key=f"rep_alert:{lead.id}:{rep.phone}:qualified", from_address=route.from_address,
            messaging_service_sid=route.messaging_service_sid, send_after=send_after))
    return ids


def _record_progress(session: Session, playbook: Playbook, lead: Lead, values: dict[str, Any]) -> None:
    answers = values.get("answers") or {}
    lead.answers = answers
    capture = session.query(CaptureEvent).filter_by(lead_id=lead.id).first()
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
