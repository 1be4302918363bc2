"""The extraction evaluation set and its scoring script (bench/eval_extraction.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bot.sandbox import serve_in_thread
from graph.parsing import parse_answer
from graph.playbook import load_playbook
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI, extraction, last_user

ROWS = [json.loads(line) for line in (ROOT / "tests/data/eval_messages.jsonl").read_text().splitlines() if line]


def test_the_set_is_realistic_free_text_with_valid_expected_values():
    playbook = load_playbook(ROOT / "playbook.yaml")
    assert len(ROWS) >= 60
    assert sum(len(r["expected"]) >= 2 for r in ROWS) >= 8, "several answers in one message"
    assert sum(len(r["text"].split()) > 3 for r in ROWS) >= 40, "mostly free text, not bare answers"
    for row in ROWS:
        assert row["pending"] is None or row["pending"] in {q.id for q in playbook.questions}
        for field, value in row["expected"].items():
            raw = "yes" if value is True else "no" if value is False else str(value)
            assert parse_answer(playbook.question(field), raw).value == value, (row, field)


def run_script(env: dict[str, str]) -> dict:
    run = subprocess.run([sys.executable, "bench/eval_extraction.py", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_script_scores_the_deterministic_path_and_a_model_side_by_side():
    alone = run_script({})
    assert alone["messages"] == len(ROWS) and "model" not in alone
    floor = alone["deterministic"]
    assert set(floor) == {"service_type", "urgency", "postal_code", "is_owner"}
    assert all(0 < t["accuracy"] < 1 for t in floor.values()), "the floor reads bare answers, not free text"

    by_text = {r["text"]: r["expected"] for r in ROWS}
    oracle = FakeOpenAI()  # a model that reads every message right: the wiring must then score 100%
    oracle.respond = lambda body: extraction(**{k: ("yes" if v is True else "no" if v is False else v)
                                                for k, v in by_text.get(last_user(body), {}).items()})
    server, url = serve_in_thread(oracle.app)
    try:
        both = run_script({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": f"{url}/v1", "LLM_MODEL": "oracle"})
    finally:
        server.shutdown()
    assert both["deterministic"] == floor
    assert {f: t["accuracy"] for f, t in both["model"].items()} == dict.fromkeys(floor, 1.0)
    assert all(t["wrong"] == 0 for t in both["model"].values())
    assert len(oracle.requests) < len(ROWS), "short answers the parser reads cost no model call"
