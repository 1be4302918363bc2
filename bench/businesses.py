"""Many businesses on one deployment (issue 17's figures): 1,000 businesses and 100,000 leads, against one business.

* Webhook ack p50/p99 at ``--rate`` msg/s through gunicorn (the Procfile's ``web``): a one-business deployment
  (``PLAYBOOK``, 100,000 leads) beside 1,000 businesses (``BUSINESSES_DIR``, 100,000 leads spread over them) with
  the messages spread over every business's number; the ratio one ÷ many (≥ 0.9 is the goal).
* Worker RSS: one worker process (the Procfile's ``worker``) after a first turn for every business (each with a
  playbook of its own) beside the same worker after turns for one business; MB, and KB per business.
* ``GET /stats`` for one business (its own token) and for the agency (every business), and the dashboard's
  all-businesses overview page signed in as an agency admin, p50/p99 over ``--requests`` calls (< 200 ms p99 is
  the goal).

Postgres when ``DATABASE_URL`` names one (its public schema is wiped), else SQLite. Prints a table or ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

from bench.common import percentile, wait_healthy  # noqa: E402
from bench.load import ACCOUNT_SID, Services, children_rss_mb, open_loop  # noqa: E402
from bot.sandbox import new_sid  # noqa: E402
from graph.playbook import _Yaml12Loader  # noqa: E402


def number_of(n: int) -> str:
    """Business ``n``'s SMS number (Twilio's magic 500 area code, as the sandbox's own)."""
    return f"+1500556{n:04d}"


def write_businesses(directory: Path, count: int) -> None:
    """``count`` business files: the example playbook with a name, a greeting and a number of each one's own."""
    base = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        data = json.loads(json.dumps(base))
        data["business"]["name"] = f"Roofer {n}"
        data["business"]["senders"] = {"sms": [number_of(n)]}
        data["greeting"] = f"Hi {{name}}! Roofer {n} here. 4 quick questions."
        (directory / f"roofer-{n:04d}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def insert_leads(database_url: str, business_ids: list[int], total: int) -> None:
    """``total`` leads spread over ``business_ids``, captured over the last 90 days, in every status."""
    from sqlalchemy import insert

    from store.db import make_engine
    from store.models import Lead

    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    rng = random.Random(17)
    statuses = ["new", "contacted", "qualified", "booked", "lost", "dormant", "disqualified"]
    rows = []
    for i in range(total):
        created = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
        status = rng.choice(statuses)
        rows.append({
            "business_id": business_ids[i % len(business_ids)], "phone": f"+1303{i:07d}", "channel": "sms",
            "source": "inbound_sms", "status": status, "answers": {}, "created_at": created, "updated_at": created,
            "first_response_at": created + timedelta(seconds=rng.randrange(2, 400)),
            "qualified_at": created + timedelta(minutes=3) if status in ("qualified", "booked") else None,
            "booked_at": created + timedelta(hours=2) if status == "booked" else None,
            "score_total": rng.randrange(0, 100), "last_activity_at": created})
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Lead), rows[start:start + 5000])
    engine.dispose()


def spread(url: str, token: str, count: int, numbers: list[str], exchange: int) -> list[tuple[dict, str]]:
    """``count`` signed inbound "hi" forms from new prospects, sent to ``numbers`` in turn."""
    validator = RequestValidator(token)
    out = []
    for i in range(count):
        form = {"MessageSid": new_sid(), "AccountSid": ACCOUNT_SID, "From": f"+1720{exchange:03d}{i:04d}",
                "To": numbers[i % len(numbers)], "Body": "hi", "NumMedia": "0"}
        out.append((form, validator.compute_signature(url, form)))
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and its children (a worker's ``nice`` wrapper execs it), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def answered(sandbox_url: str, prospects: set[str], timeout_s: float) -> int:
    """Wait until every one of ``prospects`` got a reply (or the timeout); returns how many did."""
    deadline = time.monotonic() + timeout_s
    got: set[str] = set()
    while time.monotonic() < deadline:
        rows = requests.get(f"{sandbox_url}/sandbox/messages", timeout=60).json()
        got = {m["to"] for m in rows if m["to"] in prospects}
        if len(got) >= len(prospects):
            break
        time.sleep(2)
    return len(got)


def signed_in(base: str, username: str, password: str) -> requests.Session:
    """A browser session signed in to the dashboard (the login form's CSRF token first, as a browser does)."""
    session = requests.Session()
    page = session.get(f"{base}/dashboard/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise SystemExit("the dashboard's login page has no form: is SECRET_KEY set?")
    answer = session.post(f"{base}/dashboard/login", allow_redirects=False, timeout=30,
                          data={"username": username, "password": password, "csrf_token": token.group(1)})
    if answer.status_code != 302:
        raise SystemExit(f"could not sign in: {answer.status_code}")
    return session


def timed_gets(url: str, token: str | None, requests_n: int, session: requests.Session | None = None
               ) -> tuple[float, float]:
    """p50 and p99 of ``requests_n`` GETs of ``url`` with a bearer token (or ``session``'s cookie), ms (one warm-up
    first)."""
    session = session or requests.Session()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    times = []
    for n in range(requests_n + 1):
        t0 = time.perf_counter()
        answer = session.get(url, headers=headers, timeout=30, allow_redirects=False)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}: {answer.status_code}")
        if n:  # the first is the warm-up
            times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1), round(percentile(times, 99), 1)


def run(args: argparse.Namespace, *, many: bool) -> dict[str, float | int | None]:
    """One deployment: 1 business (PLAYBOOK) or ``--businesses`` (BUSINESSES_DIR); its figures."""
    work = Path(tempfile.mkdtemp(prefix="leadline-businesses-"))
    args.sandbox_latency_ms = 0.0
    svc = Services(work, args)
    stats_token = secrets.token_hex(16)
    svc.env |= {"STATS_TOKEN": stats_token, "TWILIO_SMS_FROM": number_of(0), "WEB_CONCURRENCY": "2",
                "SECRET_KEY": secrets.token_urlsafe(32)}
    count = args.businesses if many else 1
    if many:
        write_businesses(work / "businesses", count)
        svc.env["BUSINESSES_DIR"] = str(work / "businesses")
    figures: dict[str, float | int | None] = {}
    try:
        from store.businesses import listed
        from store.db import make_engine, make_sessionmaker
        from store.tokens import issue

        sessions = make_sessionmaker(make_engine(svc.database_url))
        if many:
            from runtime.declarations import sync_directory

            t0 = time.perf_counter()
            sync_directory(sessions, work / "businesses")
            figures["sync_s"] = round(time.perf_counter() - t0, 1)
        with sessions.begin() as session:
            ids = [b.id for b in listed(session)] if many else [1]
            business_token = issue(session, business_id=ids[0], scope="stats")
        insert_leads(svc.database_url, ids, args.leads)
        web = svc.start("web", svc.procfile["web"])
        wait_healthy(f"{svc.public}/healthz", log=work / "web.log")
        url = f"{svc.public}/twilio/messages"
        numbers = [number_of(n) for n in range(count)]
        open_loop(url, spread(url, svc.token, 300, numbers, 301), args.rate)  # warm-up (routes, connections)
        latencies, _, errors = open_loop(url, spread(url, svc.token, int(args.rate * args.seconds), numbers, 302),
                                         args.rate)
        figures |= {"ack_p50_ms": round(statistics.median(latencies), 2),
                    "ack_p99_ms": round(percentile(latencies, 99), 2), "ack_errors": errors}
        _settle(svc)
        worker = svc.start("worker", svc.procfile["worker"].replace("nice -n 10 ", ""))
        time.sleep(3)
        batch = spread(url, svc.token, count, numbers, 303)  # a first turn for every business
        open_loop(url, batch, min(args.rate, 50))
        figures["turned"] = answered(svc.sandbox_url, {f["From"] for f, _ in batch}, timeout_s=60 + count * 0.5)
        figures["worker_rss_mb"] = round(rss_mb(worker.pid), 1)
        figures["stats_business_p50_ms"], figures["stats_business_p99_ms"] = timed_gets(
            f"{svc.public}/stats", business_token, args.requests)
        if many:
            figures["stats_agency_p50_ms"], figures["stats_agency_p99_ms"] = timed_gets(
                f"{svc.public}/stats", stats_token, args.requests)
            from web.accounts import save_user

            save_user(sessions, username="agency@bench.example", business_id=None, password="bench password 1")
            admin = signed_in(svc.public, "agency@bench.example", "bench password 1")
            figures["overview_page_p50_ms"], figures["overview_page_p99_ms"] = timed_gets(
                f"{svc.public}/dashboard/businesses", None, args.requests, session=admin)
        figures["web_worker_rss_mb"] = round(max(children_rss_mb(web.pid)), 1)
    finally:
        svc.close()
    return figures


def _settle(svc: Services) -> None:
    """Mark the ack phase's messages answered and clear their jobs, so the worker phase measures its own load."""
    from redis import Redis
    from sqlalchemy import text

    from store.db import make_engine

    engine = make_engine(svc.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET processed_at = created_at WHERE processed_at IS NULL"))
    engine.dispose()
    Redis.from_url(svc.redis_url).flushdb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=1000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0, help="inbound messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--requests", type=int, default=100, help="GET /stats calls per figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    one = run(args, many=False)
    many = run(args, many=True)
    report = {"database": "sqlite" if not os.environ.get("DATABASE_URL", "").startswith("postgresql") else "postgres",
              "one": one, "many": many,
              "ack_p50_ratio": round(one["ack_p50_ms"] / many["ack_p50_ms"], 3),  # type: ignore[operator]
              "ack_p99_ratio": round(one["ack_p99_ms"] / many["ack_p99_ms"], 3),  # type: ignore[operator]
              "worker_kb_per_business": round((many["worker_rss_mb"] - one["worker_rss_mb"]) * 1024  # type: ignore[operator]
                                              / max(1, args.businesses - 1), 1)}
    if args.json:
        print(json.dumps(report))
    else:
        for key in ("one", "many"):
            for name, value in report[key].items():  # type: ignore[attr-defined]
                print(f"{key:<5} {name:<24} {value}")
        for name in ("ack_p50_ratio", "ack_p99_ratio", "worker_kb_per_business", "database"):
            print(f"{name:<30} {report[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
