"""Per-field accuracy of answer extraction on an evaluation set (default: tests/data/eval_messages.jsonl).

Each line: ``{"pending": <question id or null>, "text": "...", "expected": {question id: value},
"split": "tune" | "holdout", "lang": "en" | "es" | "mixed"}`` with values as the bot stores them (a choice's
value, a 5-digit ZIP string, true/false). ``split`` and ``lang`` are optional (a line without a split counts
as held out). Rules are tuned on ``tune`` only; ``holdout`` is the honest figure.

Two paths, side by side on the same messages:

* ``deterministic``: what the bot reads with no model (``graph.reading.read_message``): every question's
  answer the message states, the pending question's bare answers too;
* ``model``: with ``OPENAI_API_KEY`` (and ``OPENAI_BASE_URL``, ``LLM_MODEL``) set: the deterministic reading,
  and the model asked only when it leaves the message unsettled, its values filling only what the
  deterministic path did not read (as the conversation combines them).

For each field: ``expected`` (messages that state it), ``correct`` (read with the right value), ``wrong`` (a
value read that is not the expected one, including one the message does not state), ``accuracy`` =
correct / expected, ``wrong_rate`` = wrong / messages. Run:
``.venv/bin/python bench/eval_extraction.py [--data FILE] [--playbook FILE] [--json] [--sweep]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.behaviour import action, score_calls, score_faq, score_intents, score_language  # noqa: E402
from graph.playbook import Playbook, load_playbook  # noqa: E402
from graph.reading import mentions  # noqa: E402
from graph.reading.language import take_language  # noqa: E402
from graph.reading.message import read_message  # noqa: E402
from graph.understanding import merge_proposal, settled_without_model, to_ask  # noqa: E402

DATA = ROOT / "tests" / "data" / "eval_messages.jsonl"
Reader = Callable[[str | None, str], dict[str, Any]]


def load(path: Path = DATA) -> list[dict[str, Any]]:
    """The evaluation set."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def deterministic(playbook: Playbook) -> Reader:
    """The bot's reading with no model."""
    languages = (playbook.business.language, *playbook.locales)

    def read(pending: str | None, text: str) -> dict[str, Any]:
        return {"answers": read_message(playbook, text, pending=pending).answers, "intent": action(text, None),
                "faq_id": None, "language": take_language(text, languages), "call": None, "latency_ms": 0}
    return read


def with_model(playbook: Playbook) -> Reader:
    """The bot's reading with the configured model (as ``bot.conversation.intents`` and the graph combine them)."""
    import tempfile

    from sqlalchemy import select

    from bot.llm import LanguageModel
    from settings import Settings
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade
    from store.models import LlmCall

    url = f"sqlite:///{tempfile.mkdtemp()}/eval.db"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    model = LanguageModel(Settings(_env_file=None, twilio_account_sid="ACeval", twilio_auth_token="eval",
                                   database_url=url), playbook, sessions, business_id=1)
    floor = deterministic(playbook)

    @functools.cache  # each split is scored from the same readings: one model call per message
    def read(pending: str | None, text: str) -> dict[str, Any]:
        reading = read_message(playbook, text, pending=pending)
        if settled_without_model(playbook, reading, pending=pending, answered=set(), text=text):
            return floor(pending, text)
        proposal = model.understand(text, pending=pending, lead_id=None, ask=to_ask(playbook, reading, answered=set()))
        with sessions() as s:
            call = s.scalars(select(LlmCall).order_by(LlmCall.id.desc()).limit(1)).one()
        return {"answers": merge_proposal(playbook, reading.answers, (proposal or {}).get("answers") or {},
                                          answered=set(), text=text, pending=pending),
                "intent": action(text, proposal), "faq_id": (proposal or {}).get("faq_id"),
                "language": take_language(text, (playbook.business.language, *playbook.locales),
                                          (proposal or {}).get("language")),
                "call": call.outcome, "latency_ms": call.latency_ms}
    return read


def score(rows: list[dict[str, Any]], verdicts: list[dict[str, Any]], fields: list[str]) -> dict[str, dict[str, Any]]:
    """Per field: expected, correct, wrong, accuracy (correct / expected), wrong_rate (wrong / messages)."""
    table = {f: {"expected": 0, "correct": 0, "wrong": 0} for f in fields}
    for row, verdict in zip(rows, verdicts, strict=True):
        got = verdict["answers"]
        for field in fields:
            want = row["expected"].get(field)
            if want is not None:
                table[field]["expected"] += 1
            if got.get(field) is not None:
                table[field]["correct" if got[field] == want else "wrong"] += 1
    for t in table.values():
        t["accuracy"] = round(t["correct"] / t["expected"], 3) if t["expected"] else None
        t["wrong_rate"] = round(t["wrong"] / len(rows), 3) if rows else None
    return table


def judged(rows: list[dict[str, Any]], read: Reader, fields: list[str]) -> dict[str, Any]:
    """One path on one split: the fields' table, then intents, FAQ, language and model calls."""
    verdicts = [read(r["pending"], r["text"]) for r in rows]
    return {**score(rows, verdicts, fields), "_intents": score_intents(rows, verdicts),
            "_faq": score_faq(rows, verdicts), "_language": score_language(rows, verdicts),
            "_calls": score_calls(verdicts)}


def splits(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rows by split: ``tune``, ``holdout`` (rows without a split are held out) and ``all``."""
    return {"tune": [r for r in rows if r.get("split") == "tune"],
            "holdout": [r for r in rows if r.get("split", "holdout") == "holdout"], "all": rows}


def sweep(rows: list[dict[str, Any]], playbook: Playbook, fields: list[str]) -> list[dict[str, Any]]:
    """Right and wrong readings (summed over fields) at each typo threshold, on ``rows``."""
    out = []
    for threshold in (75, 80, 85, 88, 90, 95, 101):
        mentions.FUZZY_THRESHOLD = threshold
        read = deterministic(playbook)
        table = score(rows, [read(r["pending"], r["text"]) for r in rows], fields)
        out.append({"threshold": threshold, "correct": sum(t["correct"] for t in table.values()),
                    "wrong": sum(t["wrong"] for t in table.values())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="evaluation set (JSON lines)")
    parser.add_argument("--playbook", default=str(ROOT / "playbook.yaml"))
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    parser.add_argument("--sweep", action="store_true", help="right/wrong readings on the tune split per typo threshold")
    args = parser.parse_args(argv)
    playbook = load_playbook(args.playbook)
    rows = load(Path(args.data))
    fields = [q.id for q in playbook.questions]
    if args.sweep:
        for line in sweep(splits(rows)["tune"], playbook, fields):
            print(line)
        return 0
    paths = {"deterministic": deterministic(playbook)}
    if os.environ.get("OPENAI_API_KEY"):
        paths["model"] = with_model(playbook)
    results: dict[str, Any] = {"messages": len(rows), "data": args.data}
    for name, part in splits(rows).items():
        results[name] = {"messages": len(part), **{p: judged(part, read, fields) for p, read in paths.items()}}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name in ("tune", "holdout", "all"):
        print_table(name, results[name], fields, list(paths))
    if "model" not in paths:
        print("(set OPENAI_API_KEY, and OPENAI_BASE_URL for a local server, to score a model beside it)")
    return 0


def print_table(name: str, part: dict[str, Any], fields: list[str], paths: list[str]) -> None:
    """One split's table in Markdown."""
    print(f"\n{name}: {part['messages']} messages")
    print("| field | expected | " + " | ".join(f"{p} right | {p} wrong | {p} accuracy" for p in paths) + " |")
    print("|" + "---|" * (2 + 3 * len(paths)))
    for field in fields:
        cells = []
        for p in paths:
            t = part[p][field]
            cells += [str(t["correct"]), f"{t['wrong']} ({t['wrong_rate']:.1%})",
                      f"{t['accuracy']:.0%}" if t["accuracy"] is not None else "–"]
        print(f"| {field} | {part[paths[0]][field]['expected']} | " + " | ".join(cells) + " |")
    print("\n| behaviour | " + " | ".join(paths) + " |")
    print("|" + "---|" * (1 + len(paths)))
    for intent in ("opt_out", "wrong_number", "wants_human", "question"):
        cells = []
        for p in paths:
            t = part[p]["_intents"][intent]
            asked = f", {t['asked']} asked" if "asked" in t else ""
            cells.append(f"{t['right']}/{t['expected']} right, {t['wrong']} wrong{asked}")
        print(f"| intent {intent} | " + " | ".join(cells) + " |")
    for key, label in (("_faq", "FAQ entry"), ("_language", "language")):
        cells = [f"{part[p][key]['right']}/{part[p][key]['expected']} right, {part[p][key]['wrong']} wrong" for p in paths]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if "model" in paths:
        calls, ms = part["model"]["_calls"], part["model"]["_calls"]["latency_ms"]
        print(f"\nmodel calls: {calls['outcomes']}; model time per message, ms: p50 {ms['p50']}, p95 {ms['p95']}, "
              f"max {ms['max']}")


if __name__ == "__main__":
    sys.exit(main())
