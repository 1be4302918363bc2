"""Benchmark: webhook acknowledgement latency (signature, dedupe, store, enqueue, empty TwiML).

Runs gunicorn as the Procfile does, the sandbox on loopback, Redis (``REDIS_URL`` or
embedded) and the database (``DATABASE_URL`` or a fresh SQLite file). Sends signed
inbound webhooks open-loop at a fixed rate and reports p50/p90/p99/max of the time from
sending a request to its TwiML answer, twice:

* ``idle``: no worker running (turns only queue up);
* ``busy``: a worker churning through a backlog of conversations while the webhooks arrive.

Prints a table and writes ``bench/results.json``. A measurement, not a test.
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

from bot.sandbox import new_sid  # noqa: E402
from cadence.redis_conn import embedded_redis_url  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from bench.common import fresh_database, percentile, wait_healthy  # noqa: E402
from bench.common import procfile as load_procfile  # noqa: E402

ACCOUNT_SID = "AC" + "b2" * 16
SMS_FROM = "+15005550006"


def signed_requests(url: str, token: str, count: int, prefix: int) -> list[tuple[dict, str]]:
    """``count`` signed inbound forms from distinct Denver numbers in exchange ``prefix`` (200–999)."""
    validator = RequestValidator(token)
    out = []
    for i in range(count):
        form = {"MessageSid": new_sid(), "AccountSid": ACCOUNT_SID, "From": f"+1720{prefix:03d}{i % 10000:04d}",
                "To": SMS_FROM, "Body": "hi", "NumMedia": "0"}
        out.append((form, validator.compute_signature(url, form)))
    return out


def fire(url: str, batch: list[tuple[dict, str]], rate: float, threads: int) -> list[float]:
    """Send ``batch`` at ``rate`` requests/s (open loop); returns latencies in ms."""
    latencies: list[float] = []
    errors = []
    local = threading.local()
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        form, signature = batch[i]
        t0 = time.perf_counter()
        answer = session.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
        latencies.append((time.perf_counter() - t0) * 1000)
        if answer.status_code != 200:
            errors.append(answer.status_code)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(batch))))
    if errors:
        raise SystemExit(f"{len(errors)} webhook errors, e.g. HTTP {errors[0]}")
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--count", type=int, default=2000, help="webhooks per phase")
    parser.add_argument("--backlog", type=int, default=3000, help="queued conversations keeping the worker busy")
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadline-bench-"))
    database_url = fresh_database(work, "bench")
    redis_url = os.environ.get("REDIS_URL") or embedded_redis_url(work / "redis.db")
    upgrade(database_url)
    token = secrets.token_hex(16)
    port = 18000 + secrets.randbelow(1000)
    public = f"http://127.0.0.1:{port}"
    sandbox_port = port + 1000
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = subprocess.Popen([sys.executable, "-m", "bot.sandbox", "--port", str(sandbox_port), "--account-sid",
                                ACCOUNT_SID, "--auth-token", token, "--webhook-url", f"{public}/twilio/messages"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PLAYBOOK": str(ROOT / "playbook.yaml"),
        "PUBLIC_BASE_URL": public, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": token,
        "TWILIO_API_BASE_URL": sandbox_url, "TWILIO_SMS_FROM": SMS_FROM, "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.web_workers), "PORT": str(port),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    procfile = load_procfile()
    web = subprocess.Popen(["sh", "-c", f"exec {procfile['web']}"], env=env, cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"{public}/twilio/messages"
    results: dict[str, dict] = {}
    worker = None
    try:
        wait_healthy(f"{public}/healthz")
        fire(url, signed_requests(url, token, 200, 899), rate=200, threads=16)  # warm-up
        idle = fire(url, signed_requests(url, token, args.count, 720), args.rate, threads=16)
        results["idle"] = _summary(idle)
        fire(url, signed_requests(url, token, args.backlog, 730), rate=1000, threads=16)  # the worker's backlog
        worker = subprocess.Popen(["sh", "-c", f"exec {procfile['worker']}"], env=env, cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # the worker is up and churning
        busy = fire(url, signed_requests(url, token, args.count, 740), args.rate, threads=16)
        results["busy"] = _summary(busy)
    finally:
        for proc in (worker, web, sandbox):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    backend = "postgres" if not database_url.startswith("sqlite") else "sqlite"
    report = {"benchmark": "webhook_ack", "rate_per_s": args.rate, "requests_per_phase": args.count,
              "database": backend, "redis": "external" if os.environ.get("REDIS_URL") else "embedded",
              "gunicorn_workers": args.web_workers, "target_p99_ms": 50, "phases": results}
    out = ROOT / "bench" / "results.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[f"webhook_ack_{backend}"] = report
    out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"webhook ack latency, {args.rate:.0f} req/s open loop, {args.count} requests per phase, "
          f"{backend}, gunicorn {args.web_workers} workers")
    print(f"{'phase':<8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}   target p99 <= 50 ms")
    for phase, row in results.items():
        print(f"{phase:<8}{row['p50_ms']:>9.1f}{row['p90_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}   "
              f"{'met' if row['p99_ms'] <= 50 else 'MISSED'}")
    return 0


def _summary(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(latencies), 2), "p90_ms": round(percentile(latencies, 90), 2),
            "p99_ms": round(percentile(latencies, 99), 2), "max_ms": round(max(latencies), 2), "n": len(latencies)}


if __name__ == "__main__":
    sys.exit(main())
