"""M0, M1, M3 and the web half of M8: webhooks under load, through gunicorn as the Procfile runs it.

* M0: a bare Flask app (``bench/bare_app.py``) on the same gunicorn settings: peak requests/s.
* M1: Leadline's webhook (signature, dedupe, store, enqueue, empty TwiML): ack latency at a fixed
  ``--rate`` (open loop), and peak ack-only requests/s as a ratio to M0, both in this invocation.
* M3: end to end with the Procfile's worker running: signed inbound "hi" from new prospects at
  ``--rate`` for ``--seconds``; inbound → first reply accepted by the sandbox (p50/p99), messages
  answered per second, errors. The sandbox answers each create after ``--sandbox-latency-ms``.
* M8 (web): resident memory of each gunicorn worker after the load.

Everything on loopback: the sandbox, Redis (``REDIS_URL`` or embedded), the database
(``DATABASE_URL``, schema wiped, or a fresh SQLite file). Prints a table, or one JSON line with ``--json``.
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, percentile, wait_healthy  # noqa: E402
from bench.common import procfile as load_procfile  # noqa: E402
from bot.sandbox import new_sid  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.redis import embedded_redis_url  # noqa: E402

ACCOUNT_SID = "AC" + "e5" * 16
SMS_FROM = "+15005550006"


def signed(url: str, token: str, count: int, exchange: int) -> list[tuple[dict, str]]:
    """``count`` signed inbound "hi" forms from distinct numbers in Denver exchange ``exchange``."""
    validator = RequestValidator(token)
    out = []
    for i in range(count):
        form = {"MessageSid": new_sid(), "AccountSid": ACCOUNT_SID, "From": f"+1720{exchange:03d}{i:04d}",
                "To": SMS_FROM, "Body": "hi", "NumMedia": "0"}
        out.append((form, validator.compute_signature(url, form)))
    return out


def open_loop(url: str, batch: list[tuple[dict, str]], rate: float, threads: int = 32) -> tuple[list[float], list[float], int]:
    """Send ``batch`` at ``rate``/s on schedule (open loop). Returns (latencies ms, send epochs, errors)."""
    latencies: list[float] = [0.0] * len(batch)
    sent_at: list[float] = [0.0] * len(batch)
    errors = [0]
    local = threading.local()
    start = time.perf_counter() + 0.3

    def one(i: int) -> None:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        form, signature = batch[i]
        sent_at[i] = time.time()
        t0 = time.perf_counter()
        try:
            ok = session.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=15).status_code == 200
        except requests.RequestException:
            ok = False
        latencies[i] = (time.perf_counter() - t0) * 1000
        errors[0] += not ok

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(batch))))
    return latencies, sent_at, errors[0]


def peak(url: str, batch: list[tuple[dict, str]], seconds: float, clients: int = 16) -> float:
    """Closed loop: ``clients`` keep-alive clients posting back to back for ``seconds``; requests/s answered 200."""
    done = [0] * clients
    stop = time.perf_counter() + seconds
    cursor = iter(range(len(batch)))
    lock = threading.Lock()

    def client(k: int) -> None:
        session = requests.Session()
        while time.perf_counter() < stop:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            form, signature = batch[i]
            if session.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=15).status_code == 200:
                done[k] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def children_rss_mb(pid: int) -> list[float]:
    """Resident memory of each child of ``pid`` (gunicorn's workers), MB."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out.append(int(line.split()[1]) / 1024)
    return out


class Services:
    """The sandbox and the Procfile's processes for one database and Redis."""

    def __init__(self, work: Path, args: argparse.Namespace):
        self.work = work
        self.database_url = fresh_database(work, "load")
        upgrade(self.database_url)
        self.redis_url = os.environ.get("REDIS_URL") or embedded_redis_url(work / "redis.db")
        self.token = secrets.token_hex(16)
        self.port = 21000 + secrets.randbelow(2000)
        self.public = f"http://127.0.0.1:{self.port}"
        self.sandbox_url = f"http://127.0.0.1:{self.port + 2500}"
        self.procfile = load_procfile()
        self.env = os.environ | {
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "PLAYBOOK": str(ROOT / "playbook.yaml"),
            "PUBLIC_BASE_URL": self.public, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": self.token,
            "TWILIO_API_BASE_URL": self.sandbox_url, "TWILIO_SMS_FROM": SMS_FROM, "LOG_LEVEL": "WARNING",
            "PORT": str(self.port), "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
        self.procs: list[subprocess.Popen] = [subprocess.Popen(
            [sys.executable, "-m", "bot.sandbox", "--port", str(self.port + 2500), "--account-sid", ACCOUNT_SID,
             "--auth-token", self.token, "--latency-ms", str(args.sandbox_latency_ms)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        from redis import Redis

        Redis.from_url(self.redis_url).flushdb()

    def start(self, name: str, command: str) -> subprocess.Popen:
        with (self.work / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(["sh", "-c", f"exec {command}"], env=self.env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        proc.wait(timeout=60)
        self.procs.remove(proc)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="inbound messages per second (M1, M3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each fixed-rate phase")
    parser.add_argument("--peak-seconds", type=float, default=5.0)
    parser.add_argument("--sandbox-latency-ms", type=float, default=150.0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes in M3 (one per core)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadline-load-"))
    svc = Services(work, args)
    count = int(args.rate * args.seconds)
    report: dict[str, float | int | None] = {}
    try:
        url = f"{svc.public}/twilio/messages"
        # M0: the bare app on the same gunicorn settings.
        bare = svc.start("bare", svc.procfile["web"].replace("app:app", "bench.bare_app:app"))
        wait_healthy(f"{svc.public}/healthz", log=work / "bare.log")
        peak(url, signed(url, svc.token, 500, 201), 1.0)  # warm-up
        report["m0_peak_rps"] = round(peak(url, signed(url, svc.token, 60000, 202), args.peak_seconds), 1)
        svc.stop(bare)
        # M1: Leadline's webhook alone (no worker: the ack is what is measured).
        web = svc.start("web", svc.procfile["web"])
        wait_healthy(f"{svc.public}/healthz", log=work / "web.log")
        open_loop(url, signed(url, svc.token, 300, 203), 100)  # warm-up
        latencies, _, errors = open_loop(url, signed(url, svc.token, count, 204), args.rate)
        report |= {"m1_p50_ms": round(statistics.median(latencies), 2), "m1_p99_ms": round(percentile(latencies, 99), 2),
                   "m1_errors": errors}
        report["m1_peak_rps"] = round(peak(url, signed(url, svc.token, 60000, 205), args.peak_seconds), 1)
        report["m1_peak_ratio_to_m0"] = round(report["m1_peak_rps"] / report["m0_peak_rps"], 3)
        # M3: the worker on. The M1 phases stored tens of thousands of messages no worker answered; the
        # database is the truth, so the worker's reconciler would answer them all too. Mark them done and
        # clear their jobs, so M3 measures its own load from an empty queue.
        from redis import Redis
        from sqlalchemy import text

        from store.db import make_engine

        engine = make_engine(svc.database_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE messages SET processed_at = created_at WHERE processed_at IS NULL"))
        engine.dispose()
        Redis.from_url(svc.redis_url).flushdb()
        for n in range(args.workers):
            svc.start(f"worker-{n}", svc.procfile["worker"])
        time.sleep(3)
        batch = signed(url, svc.token, count, 206)
        _, sent_at, errors = open_loop(url, batch, args.rate)
        asked = {form["From"]: at for (form, _), at in zip(batch, sent_at, strict=True)}
        first: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = requests.get(f"{svc.sandbox_url}/sandbox/messages", timeout=60).json()
            first = {}
            for m in rows:
                if m["to"] in asked and m["direction"] == "outbound-api":
                    first[m["to"]] = min(first.get(m["to"], m["created"]), m["created"])
            if len(first) >= len(asked):
                break
            time.sleep(2)
        waits = [first[n] - asked[n] for n in asked if n in first]
        span = (max(first.values()) - min(asked.values())) if first else float("nan")
        report |= {"m3_sent": len(asked), "m3_answered": len(first), "m3_errors": errors + len(asked) - len(first),
                   "m3_answered_per_s": round(len(first) / span, 1) if first else 0.0,
                   "m3_first_reply_p50_s": round(statistics.median(waits), 3) if waits else None,
                   "m3_first_reply_p99_s": round(percentile(waits, 99), 3) if waits else None}
        rss = children_rss_mb(web.pid)
        report["m8_web_worker_rss_mb"] = round(max(rss), 1) if rss else None
    finally:
        svc.close()
    report["database"] = "sqlite" if svc.database_url.startswith("sqlite") else "postgres"
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
