"""Questions asked per qualified lead over scripted conversations (default: tests/data/eval_conversations.jsonl).

Each line is a scripted prospect: ``{"id", "channel": "sms" | "whatsapp", "name", "lang", "opening": "first
message", "truth": {question id: value}, "replies": {question id: ["first answer when asked", "plainer answer
if asked again"]}}``. The conversation runs through the real graph (no model, an in-memory checkpointer): the
prospect opens, then answers whatever the bot asks with its scripted reply (the plainer one from the second
time on), until the bot reaches an outcome.

Modes: ``sms`` (every prospect types), ``whatsapp`` (WhatsApp prospects tap the buttons a question offers,
``graph.buttons``; SMS ones type). Reported: conversations, qualified, questions asked (each message that asks
a question, re-asks included) per conversation and per qualified lead, and answers recorded wrong against the
script's truth. ``--code DIR`` runs the graph of another checkout (e.g. ``git worktree add /tmp/before <rev>``)
for the before/after table; that checkout's own playbook goes with ``--playbook``.

Run: ``.venv/bin/python bench/questions.py [--mode sms|whatsapp] [--data FILE] [--playbook FILE] [--code DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "eval_conversations.jsonl"
MAX_TURNS = 20


def converse(graph: Any, playbook: Any, context: Any, script: dict[str, Any], *, taps: bool) -> dict[str, Any]:
    """Run one scripted conversation; returns its asks, outcome and answers."""
    config = {"configurable": {"thread_id": script["id"]}}
    values = graph.invoke({"inbound": script["opening"], "turn": "t0", **({"tap": None} if taps else {})}, config,
                          context=context)
    asks, tries = 0, {}
    for turn in range(1, MAX_TURNS):
        if values.get("phase") != "asking":
            break
        asks += 1 if values.get("asked") else 0
        question = playbook.questions[values["question_index"]]
        n = tries[question.id] = tries.get(question.id, -1) + 1
        turn_input: dict[str, Any] = {"inbound": script["replies"][question.id][min(n, 1)], "turn": f"t{turn}"}
        if taps:  # a turn's input always carries its tap (None: typed), or the last turn's would stay in the state
            turn_input.update(_tap(playbook, question, script["truth"][question.id], script.get("lang")) or {"tap": None})
        values = graph.invoke(turn_input, config, context=context)
    answers = values.get("answers") or {}
    wrong = [q for q, v in answers.items() if v is not None and v != script["truth"].get(q)]
    return {"asks": asks, "outcome": values.get("outcome"), "wrong": wrong}


def _tap(playbook: Any, question: Any, truth: Any, lang: str | None) -> dict[str, str] | None:
    """The turn input of a prospect tapping the button for ``truth``, or None when the question has none."""
    from graph.buttons import buttons, payload
    from graph.playbook.answers import key_of

    key = key_of(question, truth)
    shown = {b.id: b.title for b in buttons(playbook, question, lang if lang in playbook.locales else None)}
    if key is None or payload(question, key) not in shown:
        return None
    return {"tap": payload(question, key), "inbound": shown[payload(question, key)]}


def run(data: Path, playbook_path: Path, *, mode: str) -> dict[str, Any]:
    """Every scripted conversation in ``data`` through the graph; the summary figures."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.builder import build_graph
    from graph.context import TurnContext
    from graph.playbook import load_playbook

    playbook = load_playbook(playbook_path)
    graph = build_graph(InMemorySaver())
    scripts = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = []
    for n, script in enumerate(scripts):
        context = TurnContext(playbook=playbook, phone=f"+1720555{n:04d}", name=script.get("name"), lead_ref=f"bench-{n}")
        taps = mode == "whatsapp" and script.get("channel") == "whatsapp"
        results.append(converse(graph, playbook, context, script, taps=taps))
    qualified = [r for r in results if r["outcome"] == "qualified"]
    return {
        "mode": mode, "conversations": len(results), "qualified": len(qualified),
        "outcomes": {o: sum(r["outcome"] == o for r in results) for o in ("qualified", "nurture", "disqualified", None)},
        "asks_per_conversation": round(statistics.mean(r["asks"] for r in results), 2),
        "asks_per_qualified_lead": round(statistics.mean(r["asks"] for r in qualified), 2) if qualified else None,
        "answers_wrong": sum(len(r["wrong"]) for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--playbook", default=None, help="default: playbook.yaml of the code under test")
    parser.add_argument("--code", default=str(ROOT), help="checkout whose graph runs (default: this one)")
    parser.add_argument("--mode", choices=["sms", "whatsapp"], default="sms")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.code)
    summary = run(Path(args.data), Path(args.playbook or Path(args.code) / "playbook.yaml"), mode=args.mode)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(" · ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
