"""Benchmark: the follow-up cadence at scale.

1. Enrol ``--leads`` leads (100,000) through the real enrolment path, their day-1 touches
   spread over the next 24 hours, run the reconciler's dispatch, and report Redis bytes per
   scheduled lead (Redis holds only what is due within TOUCH_HORIZON_S) and the Redis cost of
   one enqueued touch job.
2. Dispatch rate: ``--burst`` touches due now, one worker (as the Procfile runs it) against
   the sandbox: touches handed to Twilio per second.
3. Lateness: ``--spread`` touches due over 20 seconds while the worker runs: due → handed to
   Twilio, p50/p99, and whether any went early.
4. T+0: ``POST /leads`` at 10/s to gunicorn, time until the first touch reaches the sandbox.

Uses ``DATABASE_URL`` / ``REDIS_URL`` when set (fresh schema / a dedicated Redis db), else
SQLite and an embedded Redis. Prints a table and merges its figures into bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, percentile, save_results, wait_healthy  # noqa: E402
from bench.common import procfile as load_procfile  # noqa: E402
from cadence.dispatch import dispatch  # noqa: E402
from cadence.enrollment import enroll  # noqa: E402
from jobs.process import build_runtime  # noqa: E402
from settings import Settings  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Lead, Message, Touch, utcnow  # noqa: E402
from store.redis import embedded_redis_url  # noqa: E402

ACCOUNT_SID = "AC" + "d4" * 16
SMS_FROM = "+15005550006"


def add_leads(rt, count: int, *, first: int, created_at, spread: timedelta = timedelta(0)) -> list[int]:
    """Insert ``count`` contacted SMS leads captured from ``created_at`` back over ``spread``; returns their ids."""
    rows = [{"phone": f"+1720{first + i:07d}", "channel": "sms", "source": "bench", "status": "contacted",
             "answers": {}, "created_at": created_at - spread * i / count, "updated_at": created_at,
             "timezone": "America/Denver"} for i in range(count)]
    ids: list[int] = []
    with rt.sessions.begin() as session:
        for start in range(0, count, 5000):
            ids += session.scalars(insert(Lead).returning(Lead.id), rows[start:start + 5000]).all()
    return ids


def enroll_all(rt, lead_ids: list[int]) -> float:
    """Enrol leads through the real path, 1,000 per transaction; returns seconds taken."""
    started = time.perf_counter()
    for start in range(0, len(lead_ids), 1000):
        with rt.sessions.begin() as session:
            for lead in session.scalars(select(Lead).where(Lead.id.in_(lead_ids[start:start + 1000]))):
                enroll(session, rt, lead, why="bench")
    return time.perf_counter() - started


def redis_used(rt) -> int:
    return int(rt.redis.info("memory")["used_memory"])


def sent_touches(rt, lead_ids: list[int]) -> list[tuple]:
    with rt.sessions() as session:
        return session.execute(
            select(Touch.due_at, Message.claimed_at, Message.sent_at)
            .join(Message, Touch.message_id == Message.id)
            .where(Touch.lead_id.in_(lead_ids), Message.sent_at.is_not(None))).all()


def sent_count(rt) -> int:
    """Touch messages handed to Twilio so far."""
    with rt.sessions() as session:
        return session.scalar(select(func.count(Message.id)).where(Message.kind == "touch", Message.sent_at.is_not(None)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--spread", type=int, default=1000)
    parser.add_argument("--first-touches", type=int, default=200)
    parser.add_argument("--sandbox-latency-ms", type=float, default=150.0,
                        help="delay the sandbox adds to every message create (Twilio's API takes ~150 ms)")
    parser.add_argument("--skip-first-touch", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for the burst (M4); M5 is per process")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadline-cadence-bench-"))
    print(f"work directory (logs): {work}")
    database_url = fresh_database(work, "cadence-bench")
    upgrade(database_url)
    redis_url = os.environ.get("REDIS_URL") or embedded_redis_url(work / "redis.db")
    token = secrets.token_hex(16)
    port = 19000 + secrets.randbelow(500)
    sandbox_url = f"http://127.0.0.1:{port + 1000}"
    public = f"http://127.0.0.1:{port}"
    playbook = work / "playbook.yaml"
    # Quiet hours that never fall: the bench measures dispatch, not the clock rules.
    playbook.write_text((ROOT / "playbook.yaml").read_text().replace(
        'quiet_hours: {start: "21:00", end: "08:00"}', 'quiet_hours: {start: "03:00", end: "03:00"}'))
    env = os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PLAYBOOK": str(playbook), "PUBLIC_BASE_URL": public,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": token, "TWILIO_API_BASE_URL": sandbox_url,
        "TWILIO_SMS_FROM": SMS_FROM, "LOG_LEVEL": "INFO", "API_TOKEN": token, "PORT": str(port),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    settings = Settings(_env_file=None, database_url=database_url, redis_url=redis_url, playbook=playbook,
                        public_base_url=public, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=token,
                        twilio_api_base_url=sandbox_url, twilio_sms_from=SMS_FROM, log_level="WARNING")
    rt = build_runtime(settings)
    rt.redis.flushdb()
    procfile = load_procfile()
    procs = [subprocess.Popen([sys.executable, "-m", "bot.sandbox", "--port", str(port + 1000), "--account-sid",
                               ACCOUNT_SID, "--auth-token", token, "--latency-ms", str(args.sandbox_latency_ms)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    report: dict[str, dict] = {}
    try:
        # 1. Enrol many leads; day 1 spread over the next 24 h (captured 0–24 h ago).
        now = utcnow()
        ids = add_leads(rt, args.leads, first=1_000_000, created_at=now, spread=timedelta(hours=24))
        enrol_s = enroll_all(rt, ids)
        before = redis_used(rt)
        enqueued = dispatch(rt)
        after = redis_used(rt)
        with rt.sessions() as session:
            scheduled = session.scalar(select(func.count(Touch.id)).where(Touch.result.is_(None)))
        sample = 5000
        with rt.sessions() as session:
            far = list(session.scalars(select(Touch.id).where(Touch.step == "day7").limit(sample)))
        mem0 = redis_used(rt)

        for touch_id in far:
            rt.jobs.touch(touch_id, now + timedelta(days=7))
        per_job = (redis_used(rt) - mem0) / len(far)
        rt.redis.flushdb()
        report["enrolment"] = {"leads": args.leads, "touches_scheduled": scheduled, "enrol_s": round(enrol_s, 1),
                               "enqueued_in_redis": enqueued,
                               "redis_bytes_per_scheduled_lead": round((after - before) / args.leads, 1),
                               "redis_bytes_per_enqueued_touch_job": round(per_job)}

        # 2. Dispatch rate: a burst of touches due now, one worker.
        with rt.sessions.begin() as session:  # the 100k leads are done with: keep the worker on the burst
            session.execute(Touch.__table__.update().values(result="cancelled", next_attempt_at=None))
        due = utcnow() + timedelta(seconds=5 + args.burst / 500)  # all due in the same instant, after enrolment
        burst = add_leads(rt, args.burst, first=5_000_000, created_at=due - timedelta(days=1))
        enroll_all(rt, burst)
        dispatch(rt)
        for n in range(args.workers):
            with (work / f"worker-{n}.log").open("ab") as log:
                procs.append(subprocess.Popen(["sh", "-c", f"exec {procfile['worker']}"], env=env, cwd=work,
                                              stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 900
        # A light count every 2 s: on SQLite a heavier poll would hold the write lock the worker needs.
        while sent_count(rt) < args.burst and time.monotonic() < deadline:
            time.sleep(2.0)
        done = sent_touches(rt, burst)
        sent_at = sorted(r.sent_at for r in done)
        span = (sent_at[-1] - sent_at[0]).total_seconds() if len(sent_at) > 1 else float("nan")
        report["dispatch"] = {"touches": len(done), "seconds": round(span, 2), "workers": args.workers,
                              "touches_per_s": round((len(done) - 1) / span, 1) if span else None,
                              "touches_per_s_per_worker": round((len(done) - 1) / span / args.workers, 1) if span else None,
                              "all_sent_after_due_s": round((sent_at[-1] - due).total_seconds(), 2)}

        # 3. Lateness: touches due over the next 20 s, the worker running.
        start = utcnow() + timedelta(seconds=5 + args.spread / 300)  # after enrolment: none due before it
        spread = add_leads(rt, args.spread, first=6_000_000, created_at=start - timedelta(days=1),
                           spread=timedelta(seconds=-20))  # day 1 due evenly over 20 s from ``start``
        enroll_all(rt, spread)
        dispatch(rt)
        time.sleep(30)
        rows = sent_touches(rt, spread)
        late = [(r.sent_at - r.due_at).total_seconds() for r in rows]
        report["lateness"] = {"touches": len(rows), "early": sum(1 for x in late if x < 0),
                              **({"p50_s": round(statistics.median(late), 3), "p90_s": round(percentile(late, 90), 3),
                                  "p99_s": round(percentile(late, 99), 3), "max_s": round(max(late), 3)} if late else
                                 {"p50_s": None, "p90_s": None, "p99_s": None, "max_s": None})}

        # 4. T+0: POST /leads → first touch at the sandbox.
        if args.skip_first_touch:
            args.first_touches = 0
        with (work / "web.log").open("ab") as log:
            procs.append(subprocess.Popen(["sh", "-c", f"exec {procfile['web']}"], env=env, cwd=work,
                                          stdout=log, stderr=subprocess.STDOUT))
        wait_healthy(f"{public}/healthz", log=work / "web.log")
        asked: dict[str, float] = {}
        for i in range(args.first_touches):
            number = f"+1720{7_000_000 + i:07d}"
            asked[number] = time.time()
            requests.post(f"{public}/leads", json={"event_id": f"bench-{i}", "source": "bench", "phone": number},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10).raise_for_status()
            time.sleep(0.1)
        time.sleep(5)
        first_seen: dict[str, float] = {}
        for m in requests.get(f"{sandbox_url}/sandbox/messages", timeout=30).json():
            if m["to"] in asked and m["direction"] == "outbound-api":
                first_seen.setdefault(m["to"], m["created"])
        t0 = [first_seen[n] - asked[n] for n in asked if n in first_seen]
        report["first_touch"] = {"leads": len(asked), "reached_twilio": len(t0), "target_p99_s": 5,
                                 "p50_s": round(statistics.median(t0), 3) if t0 else None,
                                 "p99_s": round(percentile(t0, 99), 3) if t0 else None}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        rt.close()

    backend = "postgres" if not database_url.startswith("sqlite") else "sqlite"
    save_results(f"cadence_{backend}", report)
    if args.json:
        print(json.dumps(report))
        return 0
    e, d, la, ft = report["enrolment"], report["dispatch"], report["lateness"], report["first_touch"]
    print(f"cadence benchmark ({backend})")
    print(f"  enrolled {e['leads']:,} leads ({e['touches_scheduled']:,} touches) in {e['enrol_s']} s; "
          f"{e['enqueued_in_redis']} due within the horizon went to Redis")
    print(f"  Redis bytes per scheduled lead: {e['redis_bytes_per_scheduled_lead']} "
          f"(one enqueued touch job: {e['redis_bytes_per_enqueued_touch_job']} bytes)")
    print(f"  dispatch: {d['touches']} touches in {d['seconds']} s = {d['touches_per_s_per_worker']} touches/s per worker")
    print(f"  lateness (due -> handed to Twilio): p50 {la['p50_s']} s, p90 {la['p90_s']} s, p99 {la['p99_s']} s, "
          f"max {la['max_s']} s, early: {la['early']} "
          f"of {la['touches']}")
    print(f"  first touch (POST /leads -> Twilio): p50 {ft['p50_s']} s, p99 {ft['p99_s']} s "
          f"({ft['reached_twilio']}/{ft['leads']}), target p99 <= 5 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
