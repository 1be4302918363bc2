"""Wiring of the qualification conversation into a LangGraph StateGraph."""

from __future__ import annotations

from typing import TypeAlias

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph import nodes
from graph.context import TurnContext
from graph.state import ConversationState, TurnInput

QualificationGraph: TypeAlias = CompiledStateGraph[ConversationState, TurnContext, TurnInput, ConversationState]
"""The compiled conversation: state, run context, one turn's input, and the state it returns."""


def build_graph(checkpointer: BaseCheckpointSaver[str] | None = None) -> QualificationGraph:
    """Compile the conversation graph.

    One invocation is one turn: the prospect's message (or an empty start) in (:class:`TurnInput`), the
    turn's ``replies`` (and maybe a ``rep_alert``) out. State persists per thread in
    ``checkpointer`` (every LangGraph saver versions channels with strings; None keeps nothing); invoke
    with ``durability="exit"`` so a turn is saved whole or not at all.
    """
    builder = StateGraph(ConversationState, context_schema=TurnContext, input_schema=TurnInput)

    # Every turn starts by clearing the last turn's replies, then branches on the phase.
    builder.add_node("begin_turn", nodes.begin_turn)
    builder.add_edge(START, "begin_turn")
    builder.add_conditional_edges("begin_turn", nodes.route_turn, ["greet", "answer", "follow_up"])

    # New conversation: the greeting, whatever the first message already answered, then the next question.
    builder.add_node("greet", nodes.greet)
    builder.add_node("absorb", nodes.absorb)
    builder.add_edge("greet", "absorb")
    builder.add_conditional_edges("absorb", nodes.route_after_answer, ["ask", "score", END])

    # Open conversation: parse the answer; re-ask, ask the next question, or score.
    builder.add_node("answer", nodes.answer)
    builder.add_node("ask", nodes.ask)
    builder.add_conditional_edges("answer", nodes.route_after_answer, ["ask", "score", END])
    builder.add_edge("ask", END)

    # Out of questions (or out of the service area): score, then pick the outcome.
    builder.add_node("score", nodes.score)
    builder.add_node("decide", nodes.decide)
    builder.add_edge("score", "decide")
    builder.add_edge("decide", END)

    # After the outcome: a fitting answer, never the questions again; a corrected answer is scored again.
    builder.add_node("follow_up", nodes.follow_up)
    builder.add_conditional_edges("follow_up", nodes.route_after_follow_up, ["ask", "score", END])

    return builder.compile(checkpointer=checkpointer, name="qualification")
