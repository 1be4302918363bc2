"""M2, M7, M8: a conversation turn in process (graph + checkpoint + commit), database growth per
conversation, and memory over many turns.

Runs the real turn code (``bot.conversation.turns.run_turn``) on a fresh database (SQLite, or the
Postgres ``DATABASE_URL`` names; its schema is wiped) with Redis from ``REDIS_URL`` or embedded.
Sends are left in the outbox: the turn is what is timed. Merges its figures into bench/results.json.
Conversations are 10 turns: a greeting, four answers with one re-ask, and five messages after the outcome.

    .venv/bin/python bench/turns.py [--conversations 300] [--memory-turns 20000] [--json]

Targets: M2 p50 <= 8 ms, p99 <= 30 ms; M7 <= 16 KiB per 10-turn conversation and flat per turn;
M8 no growth across the turns (RSS before vs after, after a warm-up).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, percentile, save_results  # noqa: E402

TURNS = ["hi", "2", "whenever", "asap", "80203", "yes", "thanks", "ok", "great", "see you"]


def rss_mb() -> float:
    """Resident set size of this process now, MB (from /proc; ru_maxrss is a peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def database_bytes(rt) -> int:
    """Bytes the database occupies: Postgres relation sizes, or SQLite's pages in use."""
    from sqlalchemy import text

    with rt.engine.connect() as conn:
        if rt.engine.dialect.name == "postgresql":
            return int(conn.scalar(text("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                        "WHERE n.nspname = 'public' AND c.relkind = 'r'")))
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar() - conn.exec_driver_sql("PRAGMA freelist_count").scalar()
        return int(pages * conn.exec_driver_sql("PRAGMA page_size").scalar())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="M2 turn latency, M7 database growth, M8 memory")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--memory-turns", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from sqlalchemy import insert

    from bot.conversation.turns import run_turn
    from bot.sandbox import new_sid
    from jobs.process import build_runtime
    from settings import Settings
    from store.migrate import upgrade
    from store.models import Message, utcnow
    from store.redis import embedded_redis_url

    work = Path(tempfile.mkdtemp(prefix="leadline-bench-turns-"))
    url = fresh_database(work, "turns")
    upgrade(url)
    redis_url = os.environ.get("REDIS_URL") or embedded_redis_url(work / "redis.db")
    settings = Settings(_env_file=None, database_url=url, redis_url=redis_url, twilio_account_sid="ACbench",
                        twilio_auth_token="bench", queue_name="bench-turns", playbook=ROOT / "playbook.yaml")
    rt = build_runtime(settings)
    numbers = iter(f"+1720{n:07d}" for n in range(5_550_000, 9_999_999))

    def turn(phone: str, body: str) -> float:
        with rt.sessions.begin() as session:
            message_id = session.execute(insert(Message).values(
                direction="inbound", kind="prospect", from_address=phone, to_address="+15005550006", body=body,
                twilio_sid=new_sid(), created_at=utcnow(), attempts=0).returning(Message.id)).scalar_one()
        started = time.perf_counter()
        run_turn(rt, message_id)
        return (time.perf_counter() - started) * 1000

    for _ in range(20):  # warm-up: imports, pools, the compiled graph
        phone = next(numbers)
        for body in TURNS:
            turn(phone, body)
    latencies: list[float] = []
    per_turn_growth = [0.0] * len(TURNS)
    before = database_bytes(rt)
    sample_every = max(1, args.conversations // 30)
    for n in range(args.conversations):
        phone = next(numbers)
        measure = n % sample_every == 0
        for index, body in enumerate(TURNS):
            size = database_bytes(rt) if measure else 0
            latencies.append(turn(phone, body))
            if measure:
                per_turn_growth[index] += database_bytes(rt) - size
    growth = (database_bytes(rt) - before) / args.conversations
    samples = len(range(0, args.conversations, sample_every))
    per_turn = [round(g / samples) for g in per_turn_growth]

    gc.collect()
    rss_start = rss_mb()
    done = 0
    while done < args.memory_turns:
        phone = next(numbers)
        for body in TURNS:
            turn(phone, body)
        done += len(TURNS)
    gc.collect()
    rss_end = rss_mb()
    rt.close()
    results = {
        "database": rt.engine.dialect.name,
        "M2_turn_ms": {"p50": round(percentile(latencies, 50), 2), "p99": round(percentile(latencies, 99), 2),
                       "turns": len(latencies), "target_p50": 8, "target_p99": 30},
        "M7_bytes_per_conversation": {"value": round(growth), "target": 16 * 1024, "per_turn": per_turn},
        "M8_rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1), "turns": done,
                      "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
    }
    save_results(f"turns_{results['database']}", results)
    if args.json:
        print(json.dumps(results))
        return 0
    m2, m7, m8 = results["M2_turn_ms"], results["M7_bytes_per_conversation"], results["M8_rss_mb"]
    print(f"database: {results['database']}")
    print("| figure | result | target |\n|---|---|---|")
    print(f"| M2 turn p50 / p99 | {m2['p50']} / {m2['p99']} ms ({m2['turns']} turns) | 8 / 30 ms |")
    print(f"| M7 database growth per 10-turn conversation | {m7['value']:,} B (per turn: {m7['per_turn']}) | 16,384 B, flat |")
    print(f"| M8 RSS across {m8['turns']:,} turns | {m8['start']} → {m8['end']} MB | no growth |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
