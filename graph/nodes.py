"""The conversation's nodes and routers: plain functions returning partial state.

Nodes only decide what to say; they never send. The caller turns ``replies`` and
``rep_alert`` into outbox rows, so a node that runs again after a crash cannot
double-send anything.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from graph.answering import Taken, take, understood_text
from graph.buttons import read_tap
from graph.context import TurnContext
from graph.parsing import DEFAULT_HINTS, in_service_area
from graph.playbook import Playbook, Question
from graph.reading.language import take_language
from graph.scoring import Score, score_lead
from graph.state import ConversationState, Outcome, Phase
from graph.texts import display, placeholders_for, render

MAX_REASKS_PER_QUESTION = 2
"""An answer that can't be parsed is re-asked at most this often, then recorded as unknown."""

TurnRoute = Literal["greet", "answer", "follow_up"]
_TURN_ROUTES: dict[Phase, TurnRoute] = {"new": "greet", "asking": "answer", "done": "follow_up"}


def begin_turn(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Start a turn: clear last turn's replies, set defaults on the first turn, and take the prospect's
    language the first time it is known (the playbook's own or a locale's): detected offline
    (``graph.reading.language``), else a model's reading that the detector leans to."""
    update: dict[str, Any] = {"replies": [], "rep_alert": None, "last_turn": state["turn"], "asked": False, "asking": None,
                              "understood": None, "turns_taken": state.get("turns_taken", 0) + 1}
    if "phase" not in state:
        update |= {"phase": "new", "question_index": 0, "attempts": 0, "reasks": 0, "answers": {}, "inferred": [],
                   "disqualified": False, "score": None, "outcome": None, "language": None}
    if not state.get("language"):
        pb = runtime.context.playbook
        proposed = (state.get("understanding") or {}).get("language")
        language = take_language(state["inbound"], (pb.business.language, *pb.locales), proposed) \
            if not state.get("tap") else proposed
        if language in pb.locales or language == pb.business.language:  # once sure, kept: a later "gracias"
            update["language"] = language  # does not turn an English conversation Spanish
    return update


def route_turn(state: ConversationState) -> TurnRoute:
    """New conversations are greeted, open ones answered, finished ones followed up."""
    return _TURN_ROUTES[state["phase"]]


def greet(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """The greeting; the first question follows (or whatever the first message left unanswered)."""
    pb = runtime.context.playbook
    texts = _placeholders(state, runtime.context)
    return {"phase": "asking", "question_index": 0, "replies": [render(pb.text("greeting", state.get("language")), **texts)]}


def absorb(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Every answer the first message states (read deterministically, a model filling in what was not read),
    to be confirmed in the next message."""
    pb = runtime.context.playbook
    taken = take(pb, state["answers"], text=state["inbound"], pending=None, tap=state.get("tap"),
                 proposals=(state.get("understanding") or {}).get("answers"), inferred=state.get("inferred"))
    return _taken_update(pb, state, taken)


def answer(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Read the inbound message: the pending question's answer and every other answer it states
    (``graph.answering.take``: a tapped button exactly, the text deterministically, a model only for the rest).

    An off-script question recognised by a model is answered from the playbook's FAQ and the pending
    question asked again (not counted as a failed answer). A message that changes no answer is re-asked
    with a hint up to ``MAX_REASKS_PER_QUESTION`` times, then the question is recorded as unknown.
    """
    ctx = runtime.context
    pb = ctx.playbook
    language = state.get("language")
    understanding = state.get("understanding") or {}
    question = pb.questions[state["question_index"]]
    taken = take(pb, state["answers"], text=state["inbound"], pending=question.id, tap=state.get("tap"),
                 proposals=understanding.get("answers"), inferred=state.get("inferred"))
    replies: list[str] = []
    if understanding.get("intent") == "question":
        replies.append(faq_reply(pb, understanding.get("faq_id"), language, _placeholders(state, ctx)))
    if taken.changed:
        return {**_taken_update(pb, state, taken), "replies": replies, "attempts": 0}
    ask_text = _ask(pb, question, state, ctx)
    if replies or read_tap(pb, state.get("tap")):  # answered their question, or tapped an answer already given:
        return {"replies": [*replies, ask_text], "asked": True, "asking": question.id, "inferred": []}  # not a failure
    if state["attempts"] < MAX_REASKS_PER_QUESTION:
        locale = pb.locale(language)
        hint = locale.hint if locale is not None and locale.hint else (question.hint or DEFAULT_HINTS[question.type])
        return {"attempts": state["attempts"] + 1, "reasks": state["reasks"] + 1, "inferred": [],
                "replies": [f"{hint} {ask_text}"], "asked": True, "asking": question.id}
    answers = {**state["answers"], question.id: None}  # given up on: recorded as unknown
    return {"answers": answers, "attempts": 0, "question_index": next_unanswered(pb, answers), "inferred": [],
            "disqualified": out_of_area(pb, answers)}


def _taken_update(pb: Playbook, state: ConversationState, taken: Taken) -> dict[str, Any]:
    """The state a message's answers leave: the answers, what to confirm, the next question, disqualified."""
    return {"answers": taken.answers, "inferred": taken.inferred, "question_index": next_unanswered(pb, taken.answers),
            "disqualified": out_of_area(pb, taken.answers),
            "understood": understood_text(pb, taken.understood, taken.answers, state.get("language"))}


def next_unanswered(pb: Playbook, answers: dict[str, Any]) -> int:
    """Index of the first question without an answer (``len(questions)`` when all are answered)."""
    for index, question in enumerate(pb.questions):
        if question.id not in answers:
            return index
    return len(pb.questions)


def out_of_area(pb: Playbook, answers: dict[str, Any]) -> bool:
    """Whether an answered postal-code question that disqualifies is outside the service area."""
    return any(q.type == "postal_code" and q.outside_area == "disqualify" and answers.get(q.id) is not None
               and not in_service_area(q, str(answers[q.id])) for q in pb.questions)


def faq_reply(pb: Playbook, faq_id: str | None, language: str | None, texts: dict[str, Any]) -> str:
    """The playbook's answer to FAQ ``faq_id``, or ``replies.faq_unknown`` (never anything a model wrote)."""
    key = f"faq.{faq_id}" if faq_id and any(f.id == faq_id for f in pb.faq) else "replies.faq_unknown"
    return render(pb.text(key, language), **texts)


def route_after_answer(state: ConversationState, runtime: Runtime[TurnContext]) -> Literal["ask", "score", "__end__"]:
    """Score when disqualified or out of questions; stop after a re-ask; else ask the next question."""
    if state["disqualified"] or state["question_index"] >= len(runtime.context.playbook.questions):
        return "score"
    if state.get("asked"):
        return "__end__"
    return "ask"


def ask(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Ask the pending question, after the clause confirming what this message was understood to say."""
    question = runtime.context.playbook.questions[state["question_index"]]
    text = _confirmed(state, _ask(runtime.context.playbook, question, state, runtime.context))
    return {"replies": [*state["replies"], text], "asked": True, "asking": question.id}


def score(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Score the answers (fit + intent + engagement)."""
    return {"score": score_lead(runtime.context.playbook, state["answers"], state["reasks"])}


def decide(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Pick the outcome and its message; a qualified lead also yields the rep alert."""
    ctx = runtime.context
    pb = ctx.playbook
    texts = _placeholders(state, ctx)
    outcome: Outcome
    if state["disqualified"]:
        outcome = "disqualified"
        texts["resource_url"] = pb.outcomes.disqualified.resource_url
    elif _score(state)["total"] >= pb.scoring.qualify_at:
        outcome = "qualified"
    else:
        outcome = "nurture"
    message = pb.text(f"outcomes.{outcome}.message", state.get("language"))
    update: dict[str, Any] = {"phase": "done", "outcome": outcome,
                              "replies": [*state["replies"], _confirmed(state, render(message, **texts))]}
    if outcome == "qualified" and state.get("outcome") != "qualified":  # a correction that keeps it qualified: no second alert
        update["rep_alert"] = rep_alert_text(pb, ctx, state)
    return update


def follow_up(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """A message after the outcome: a correction of an answer ("no, it's a repair") is taken and the lead
    scored and decided again; anything else gets the booking link again, or that a rep will reach out."""
    ctx = runtime.context
    asks = "?" in state["inbound"] and not state.get("tap")  # "when can you come check it out?" corrects nothing
    taken = None if asks else take(ctx.playbook, state["answers"], text=state["inbound"], pending=None,
                                   tap=state.get("tap"), inferred=state.get("inferred"))
    if taken is not None and taken.changed:
        update = {**_taken_update(ctx.playbook, state, taken), "corrected": True}
        if not update["disqualified"] and update["question_index"] < len(ctx.playbook.questions):
            # a corrected ZIP code back in the area: the questions it cut short, and no outcome until then
            update |= {"phase": "asking", "outcome": None, "score": None}
        return update
    texts = _placeholders(state, ctx)
    if state["outcome"] == "disqualified":
        texts["resource_url"] = ctx.playbook.outcomes.disqualified.resource_url
    understanding = state.get("understanding") or {}
    replies: list[str] = []
    if understanding.get("intent") == "question":
        replies.append(faq_reply(ctx.playbook, understanding.get("faq_id"), state.get("language"), texts))
    already = ctx.playbook.text(f"outcomes.{state['outcome']}.already_text", state.get("language"))
    return {"replies": [*replies, render(already, **texts)], "corrected": False, "inferred": []}


def route_after_follow_up(state: ConversationState) -> Literal["ask", "score", "__end__"]:
    """A corrected answer is scored and decided again, or the questions it left open are asked; otherwise the
    turn is over."""
    if not state.get("corrected"):
        return "__end__"
    return "ask" if state["phase"] == "asking" else "score"


def rep_alert_text(pb: Playbook, ctx: TurnContext, state: ConversationState) -> str:
    """The rep's notification: HOT marker, grade, score, contact, answers and the score's parts."""
    s = _score(state)
    hot = "HOT lead" if s["total"] >= pb.scoring.hot_at else "Qualified lead"
    answers = " · ".join(f"{q.id}: {display(state['answers'].get(q.id)) or 'unknown'}" for q in pb.questions)
    return (f"{hot} ({s['grade']}, {s['total']}/100): {ctx.name or 'no name given'}, {ctx.phone}\n"
            f"{answers}\n"
            f"Fit {s['fit']} + intent {s['intent']} + engagement {s['engagement']}. Booking link sent.")


def _score(state: ConversationState) -> Score:
    """The lead's score; the graph always runs ``score`` before the nodes that read it."""
    score = state.get("score")
    if score is None:
        raise LookupError("the conversation has no score yet: the score node must run first")
    return score


def _confirmed(state: ConversationState, text: str) -> str:
    """``text`` after this turn's confirmation clause, if any ("Got it: a full replacement. How soon…")."""
    return f"{state['understood']} {text}" if state.get("understood") else text


def _ask(pb: Playbook, question: Question, state: ConversationState, ctx: TurnContext) -> str:
    return render(pb.text(f"questions.{question.id}", state.get("language")), **_placeholders(state, ctx))


def _placeholders(state: ConversationState, ctx: TurnContext) -> dict[str, Any]:
    return placeholders_for(ctx.playbook, name=ctx.name, phone=ctx.phone, lead_ref=ctx.lead_ref,
                            answers=state.get("answers", {}))
