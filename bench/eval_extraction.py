"""Per-field accuracy of answer extraction on the evaluation set (tests/data/eval_messages.jsonl).

Each line: ``{"pending": <question id or null>, "text": "...", "expected": {question id: value}}``
with values as the bot stores them (a choice's value, a 5-digit ZIP string, true/false).

Two paths, side by side on the same messages:

* ``deterministic``: what the bot does with no model: the parser reads the pending question only;
* ``model``: with ``OPENAI_API_KEY`` (and ``OPENAI_BASE_URL``, ``LLM_MODEL``) set: the parser alone
  where it is sure (a short answer it reads), else one structured-output call whose values, each
  validated by the parser, win over the parser's own reading.

For each field: ``expected`` (messages that state it), ``correct`` (read with the right value),
``wrong`` (a value read that is not the expected one, including one the message does not state),
``accuracy`` = correct / expected. Run: ``.venv/bin/python bench/eval_extraction.py [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.parsing import parse_answer  # noqa: E402
from graph.playbook import Playbook, load_playbook  # noqa: E402
from graph.understanding import sure_without_model, validated_answers  # noqa: E402

DATA = ROOT / "tests" / "data" / "eval_messages.jsonl"


def load(path: Path = DATA) -> list[dict[str, Any]]:
    """The evaluation set."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def deterministic(playbook: Playbook) -> Callable[[str | None, str], dict[str, Any]]:
    """The bot's reading with no model: the pending question's parser, nothing else."""
    def read(pending: str | None, text: str) -> dict[str, Any]:
        if pending is None:
            return {}
        parsed = parse_answer(playbook.question(pending), text)
        return {pending: parsed.value} if parsed.ok else {}
    return read


def with_model(playbook: Playbook) -> Callable[[str | None, str], dict[str, Any]]:
    """The bot's reading with the configured model (as ``bot.conversation.turns`` and the graph combine them)."""
    import tempfile

    from bot.llm import LanguageModel
    from settings import Settings
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade

    url = f"sqlite:///{tempfile.mkdtemp()}/eval.db"
    upgrade(url)
    settings = Settings(_env_file=None, twilio_account_sid="ACeval", twilio_auth_token="eval", database_url=url)
    model = LanguageModel(settings, playbook, make_sessionmaker(make_engine(url)))
    floor = deterministic(playbook)

    def read(pending: str | None, text: str) -> dict[str, Any]:
        question = playbook.question(pending) if pending else None
        found = floor(pending, text)
        if sure_without_model(question, text):
            return found
        proposal = model.understand(text, pending=pending, lead_id=None) or {}
        return {**found, **validated_answers(playbook, proposal.get("answers") or {})}
    return read


def score(rows: list[dict[str, Any]], read: Callable[[str | None, str], dict[str, Any]],
          fields: list[str]) -> dict[str, dict[str, Any]]:
    """Per field: expected, correct, wrong, accuracy."""
    table = {f: {"expected": 0, "correct": 0, "wrong": 0} for f in fields}
    for row in rows:
        got = read(row["pending"], row["text"])
        for field in fields:
            want = row["expected"].get(field)
            if want is not None:
                table[field]["expected"] += 1
            if field in got and got[field] is not None:
                if got[field] == want:
                    table[field]["correct"] += 1
                else:
                    table[field]["wrong"] += 1
    for t in table.values():
        t["accuracy"] = round(t["correct"] / t["expected"], 3) if t["expected"] else None
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--playbook", default=str(ROOT / "playbook.yaml"))
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    args = parser.parse_args(argv)
    import os

    playbook = load_playbook(args.playbook)
    rows = load()
    fields = [q.id for q in playbook.questions]
    results = {"messages": len(rows), "deterministic": score(rows, deterministic(playbook), fields)}
    if os.environ.get("OPENAI_API_KEY"):
        results["model"] = score(rows, with_model(playbook), fields)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{len(rows)} messages from {DATA.relative_to(ROOT)}")
    paths = [p for p in ("deterministic", "model") if p in results]
    header = "| field | expected | " + " | ".join(f"{p} correct | {p} wrong | {p} accuracy" for p in paths) + " |"
    print(header)
    print("|" + "---|" * (2 + 3 * len(paths)))
    for field in fields:
        cells = []
        for p in paths:
            t = results[p][field]
            cells += [str(t["correct"]), str(t["wrong"]), f"{t['accuracy']:.0%}" if t["accuracy"] is not None else "–"]
        print(f"| {field} | {results['deterministic'][field]['expected']} | " + " | ".join(cells) + " |")
    if "model" not in results:
        print("(set OPENAI_API_KEY, and OPENAI_BASE_URL for a local server, to score a model beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
