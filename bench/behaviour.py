"""What the bot does with a message besides reading answers, scored on the evaluation set: the intent it acts
on, the FAQ entry it answers from and the language it takes; and, with a model, each call's outcome and latency.

A line may carry ``"intent"`` (``opt_out``, ``wrong_number``, ``wants_human``, ``question`` or ``answer``) and,
for a question, ``"faq_id"`` (an id, or null for a question no entry answers). A line without ``intent`` is an
answer as far as the action intents go: the bot acting on one there is wrong. What the bot *does* is scored, as
``bot.conversation.intents.intent_to_act_on`` decides it: the message's own words first, then the model, whose
``wrong_number`` alone only asks (``wrong_number_check``) and never closes the lead.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from graph.understanding import acted_intent

SCORED_INTENTS = ("opt_out", "wrong_number", "wants_human", "question")


def action(text: str, proposal: dict[str, Any] | None) -> str | None:
    """What the bot does with ``text`` (None: it runs the conversation), given a model's proposal: the intent it
    acts on (``graph.understanding.acted_intent``), else ``question`` when the model says it is one."""
    acted = acted_intent(text, proposal)
    return acted or ("question" if (proposal or {}).get("intent") == "question" else None)


def score_intents(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per intent: ``expected`` (lines labelled so), ``right`` (acted on as labelled), ``wrong`` (acted on it when
    the line says otherwise; a question is only scored on labelled lines). ``wrong_number`` also counts
    ``asked`` (the check question sent instead of closing)."""
    table = {i: {"expected": 0, "right": 0, "wrong": 0} for i in SCORED_INTENTS}
    table["wrong_number"]["asked"] = 0
    for row, verdict in zip(rows, verdicts, strict=True):
        want, got = row.get("intent", "answer"), verdict["intent"]
        if want in table:
            table[want]["expected"] += 1
        if got == "wrong_number_check":
            table["wrong_number"]["asked"] += 1
        elif got in table and not (got == "question" and "intent" not in row):
            table[got]["right" if got == want else "wrong"] += 1
    return table


def score_faq(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> dict[str, int]:
    """Over lines labelled ``question``: ``expected`` (such lines), ``right`` (the labelled entry, or none when
    none fits), ``wrong`` (another entry, or one where none fits: the prospect gets an unrelated answer)."""
    out = {"expected": 0, "right": 0, "wrong": 0}
    for row, verdict in zip(rows, verdicts, strict=True):
        if row.get("intent") != "question":
            continue
        want, got = row.get("faq_id"), verdict["faq_id"]
        out["expected"] += 1
        if got == want:
            out["right"] += 1
        elif got is not None:
            out["wrong"] += 1
    return out


def score_language(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> dict[str, int]:
    """Over lines whose ``lang`` is ``en`` or ``es``: ``expected``, ``right``, ``wrong`` (the other language),
    ``unsure`` (none taken). A ``mixed`` line is right when it stays English."""
    out = {"expected": 0, "right": 0, "wrong": 0, "unsure": 0}
    for row, verdict in zip(rows, verdicts, strict=True):
        want = {"mixed": "en"}.get(row.get("lang", ""), row.get("lang"))
        if want not in ("en", "es"):
            continue
        out["expected"] += 1
        got = verdict["language"]
        out["unsure" if got is None else "right" if got == want else "wrong"] += 1
    return out


def score_calls(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Model calls: how many per outcome (``ok``, ``timeout``, ``error``, ``invalid``, ``over_budget``), messages
    that needed none, and per-message model time in ms (p50, p95, max)."""
    outcomes = Counter(v["call"] or "none" for v in verdicts)
    latencies = sorted(v["latency_ms"] for v in verdicts if v["call"])
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else (lambda q: None)
    return {"outcomes": dict(outcomes), "latency_ms": {"p50": pick(0.5), "p95": pick(0.95),
                                                       "max": latencies[-1] if latencies else None}}
