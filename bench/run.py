"""``make bench``: every M figure of issue 6, the median of 3 runs each, beside its target, in one table.

Runs ``bench/load.py`` (M0, M1, M3, web M8), ``bench/cadence.py`` (M4, M5, M6) and
``bench/turns.py`` (M2, M7, M8) ``--runs`` times each on the database ``DATABASE_URL`` names
(SQLite when unset) and Redis (``REDIS_URL`` or embedded), the sandbox answering each create
after 150 ms. Prints the table and writes it to ``bench/results.json`` under ``summary_<database>``.
A measurement, not a test: nothing here fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import save_results  # noqa: E402

WORKERS = "1" if os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite") else "2"
"""Worker processes: one per core on Postgres; one on SQLite, where processes take turns at a single write lock
and a second one only adds waiting (SQLite is the one-machine default; a business that scales runs Postgres)."""
RUNS: dict[str, list[str]] = {
    "load": ["bench/load.py", "--json", "--rate", "200", "--seconds", "10", "--workers", WORKERS],
    "cadence": ["bench/cadence.py", "--json", "--leads", "10000", "--burst", "10000", "--spread", "1000",
                "--skip-first-touch", "--workers", WORKERS],
    "turns": ["bench/turns.py", "--json", "--conversations", "200", "--memory-turns", "3000"],
}

Row = tuple[str, str, Callable[[dict[str, Any]], float | None], str, Callable[[float], bool]]
ROWS: list[Row] = [
    ("M0", "bare Flask peak, req/s", lambda r: r["load"]["m0_peak_rps"], "baseline", lambda v: True),
    ("M1", "webhook ack p50 at 200/s, ms", lambda r: r["load"]["m1_p50_ms"], "<= 5", lambda v: v <= 5),
    ("M1", "webhook ack p99 at 200/s, ms", lambda r: r["load"]["m1_p99_ms"], "<= 25", lambda v: v <= 25),
    ("M1", "peak ack req/s / M0 peak", lambda r: r["load"]["m1_peak_ratio_to_m0"], ">= 0.25", lambda v: v >= 0.25),
    ("M2", "turn p50, ms", lambda r: r["turns"]["M2_turn_ms"]["p50"], "<= 8", lambda v: v <= 8),
    ("M2", "turn p99, ms", lambda r: r["turns"]["M2_turn_ms"]["p99"], "<= 30", lambda v: v <= 30),
    ("M3", "end to end answered/s (offered 200/s)", lambda r: r["load"]["m3_answered_per_s"], ">= 200",
     lambda v: v >= 200),
    ("M3", "errors", lambda r: r["load"]["m3_errors"], "0", lambda v: v == 0),
    ("M3", "inbound -> first reply p99, s", lambda r: r["load"]["m3_first_reply_p99_s"], "<= 1 (TTFR <= 2)",
     lambda v: v <= 1),
    ("M4", "touch lateness p99, s", lambda r: r["cadence"]["lateness"]["p99_s"], "<= 1.2", lambda v: v <= 1.2),
    ("M4", "touches sent early", lambda r: r["cadence"]["lateness"]["early"], "0", lambda v: v == 0),
    ("M4", f"10,000 due at once, {WORKERS} worker process(es): last sent after due, s",
     lambda r: r["cadence"]["dispatch"]["all_sent_after_due_s"],
     "<= 15", lambda v: v <= 15),
    ("M5", "dispatch per worker process, touches/s", lambda r: r["cadence"]["dispatch"]["touches_per_s_per_worker"],
     ">= 250", lambda v: v >= 250),
    ("M6", "Redis bytes per scheduled lead", lambda r: r["cadence"]["enrolment"]["redis_bytes_per_scheduled_lead"],
     "<= 1024", lambda v: v <= 1024),
    ("M7", "database bytes per 10-turn conversation", lambda r: r["turns"]["M7_bytes_per_conversation"]["value"],
     "<= 16384", lambda v: v <= 16384),
    ("M8", "RSS per web worker after load, MB", lambda r: r["load"]["m8_web_worker_rss_mb"], "<= 120",
     lambda v: v <= 120),
    ("M8", "RSS growth over the turns, MB",
     lambda r: round(r["turns"]["M8_rss_mb"]["end"] - r["turns"]["M8_rss_mb"]["start"], 1), "<= 0 (flat)",
     lambda v: v <= 1.0),
]


def run(name: str) -> dict[str, Any]:
    """One run of a benchmark script; its last stdout line is its JSON."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, *RUNS[name]], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    print(f"  {name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for n in range(args.runs):
        print(f"run {n + 1} of {args.runs}", file=sys.stderr)
        results.append({name: run(name) for name in RUNS})
    database = results[0]["load"]["database"]
    table = []
    for metric, figure, read, target, met in ROWS:
        values = [read(r) for r in results]
        values = [v for v in values if v is not None]
        median = statistics.median(values) if values else None
        table.append({"metric": metric, "figure": figure, "median": median, "runs": values, "target": target,
                      "met": None if median is None else bool(met(median))})
    print(f"\nLeadline benchmarks on {database}, median of {args.runs} runs "
          f"(sandbox latency 150 ms, {WORKERS} worker process(es))")
    print("| M | figure | median | runs | target | |\n|---|---|---|---|---|---|")
    for row in table:
        verdict = "baseline" if row["target"] == "baseline" else ("met" if row["met"] else "MISSED")
        print(f"| {row['metric']} | {row['figure']} | {row['median']} | {', '.join(str(v) for v in row['runs'])} | "
              f"{row['target']} | {verdict} |")
    save_results(f"summary_{database}", {"runs": args.runs, "table": table, "raw": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
