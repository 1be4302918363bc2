"""The conversation's nodes and routers: plain functions returning partial state.

Nodes only decide what to say; they never send. The caller turns ``replies`` and
``rep_alert`` into outbox rows, so a node that runs again after a crash cannot
double-send anything.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from graph.context import TurnContext
from graph.parsing import in_service_area, parse_answer
from graph.playbook import Playbook
from graph.scoring import score_lead
from graph.state import ConversationState
from graph.texts import display, placeholders_for, render

MAX_REASKS_PER_QUESTION = 2
"""An answer that can't be parsed is re-asked at most this often, then recorded as unknown."""


def begin_turn(state: ConversationState) -> dict[str, Any]:
    """Start a turn: clear last turn's replies and set defaults on the first turn."""
    update: dict[str, Any] = {"replies": [], "rep_alert": None, "last_turn": state["turn"]}
    if "phase" not in state:
        update |= {"phase": "new", "question_index": 0, "attempts": 0, "reasks": 0, "answers": {},
                   "disqualified": False, "score": None, "outcome": None}
    return update


def route_turn(state: ConversationState) -> Literal["greet", "answer", "follow_up"]:
    """New conversations are greeted, open ones answered, finished ones followed up."""
    return {"new": "greet", "asking": "answer", "done": "follow_up"}[state["phase"]]


def greet(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Greeting and the first question."""
    pb = runtime.context.playbook
    texts = _placeholders(state, runtime.context)
    return {"phase": "asking", "question_index": 0,
            "replies": [render(pb.greeting, **texts), render(pb.questions[0].ask, **texts)]}


def answer(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Parse the inbound text as the pending question's answer.

    A parsed answer is recorded and the question index advances. An unparseable one is
    re-asked with a hint up to ``MAX_REASKS_PER_QUESTION`` times, then recorded as unknown.
    """
    pb = runtime.context.playbook
    question = pb.questions[state["question_index"]]
    parsed = parse_answer(question, state["inbound"])
    answers = dict(state["answers"])
    if not parsed.ok and state["attempts"] < MAX_REASKS_PER_QUESTION:
        ask = render(question.ask, **_placeholders(state, runtime.context))
        return {"attempts": state["attempts"] + 1, "reasks": state["reasks"] + 1,
                "replies": [f"{parsed.hint} {ask}"]}
    answers[question.id] = parsed.value if parsed.ok else None
    disqualified = bool(
        parsed.ok and question.type == "postal_code" and question.outside_area == "disqualify"
        and not in_service_area(question, str(parsed.value))
    )
    return {"answers": answers, "attempts": 0, "question_index": state["question_index"] + 1,
            "disqualified": disqualified}


def route_after_answer(state: ConversationState, runtime: Runtime[TurnContext]) -> Literal["ask", "score", "__end__"]:
    """Score when disqualified or out of questions; stop after a re-ask; else ask the next question."""
    if state["disqualified"] or state["question_index"] >= len(runtime.context.playbook.questions):
        return "score"
    if state["replies"]:
        return "__end__"
    return "ask"


def ask(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Ask the pending question."""
    question = runtime.context.playbook.questions[state["question_index"]]
    return {"replies": [*state["replies"], render(question.ask, **_placeholders(state, runtime.context))]}


def score(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Score the answers (fit + intent + engagement)."""
    return {"score": score_lead(runtime.context.playbook, state["answers"], state["reasks"])}


def decide(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Pick the outcome and its message; a qualified lead also yields the rep alert."""
    ctx = runtime.context
    pb = ctx.playbook
    texts = _placeholders(state, ctx)
    if state["disqualified"]:
        outcome, spec = "disqualified", pb.outcomes.disqualified
        texts["resource_url"] = spec.resource_url
    elif state["score"]["total"] >= pb.scoring.qualify_at:
        outcome, spec = "qualified", pb.outcomes.qualified
    else:
        outcome, spec = "nurture", pb.outcomes.nurture
    update: dict[str, Any] = {"phase": "done", "outcome": outcome,
                              "replies": [*state["replies"], render(spec.message, **texts)]}
    if outcome == "qualified":
        update["rep_alert"] = rep_alert_text(pb, ctx, state)
    return update


def follow_up(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """A message after the outcome: the booking link again, or that a rep will reach out."""
    ctx = runtime.context
    texts = _placeholders(state, ctx)
    spec = getattr(ctx.playbook.outcomes, state["outcome"])
    if state["outcome"] == "disqualified":
        texts["resource_url"] = spec.resource_url
    return {"replies": [render(spec.already_text, **texts)]}


def rep_alert_text(pb: Playbook, ctx: TurnContext, state: ConversationState) -> str:
    """The rep's notification: HOT marker, grade, score, contact, answers and the score's parts."""
    s = state["score"]
    hot = "HOT lead" if s["total"] >= pb.scoring.hot_at else "Qualified lead"
    answers = " · ".join(f"{q.id}: {display(state['answers'].get(q.id)) or 'unknown'}" for q in pb.questions)
    return (f"{hot} ({s['grade']}, {s['total']}/100): {ctx.name or 'no name given'}, {ctx.phone}\n"
            f"{answers}\n"
            f"Fit {s['fit']} + intent {s['intent']} + engagement {s['engagement']}. Booking link sent.")


def _placeholders(state: ConversationState, ctx: TurnContext) -> dict[str, Any]:
    return placeholders_for(ctx.playbook, name=ctx.name, phone=ctx.phone, lead_ref=ctx.lead_ref,
                            answers=state.get("answers", {}))
