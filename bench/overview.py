"""The agency overview at scale: every business's leads, speed-to-lead p50/p90 and rates, for 1,000 businesses and
100,000 leads (``--businesses``, ``--leads``), as the dashboard's overview page and ``GET /stats`` (agency token)
compute them (:func:`store.overview.per_business`), all time and over the last 30 days; the median and worst of
``--runs`` runs, milliseconds. Target: well under 200 ms on Postgres.

Runs on the database ``DATABASE_URL`` names, wiping it first (SQLite in a temporary directory when unset).
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.common import fresh_database  # noqa: E402
from store.db import make_engine, make_sessionmaker  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Lead  # noqa: E402
from store.overview import per_business  # noqa: E402
from store.tenancy import Business  # noqa: E402


def seed(url: str, businesses: int, leads: int) -> None:
    """``businesses`` active businesses and ``leads`` leads spread over them unevenly (a few big ones) and over the
    last 90 days: most answered within a minute or two, a third qualified, a tenth booked."""
    engine = make_engine(url)
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Business), [{"slug": f"b{n:04d}", "name": f"Business {n:04d}", "timezone": "UTC",
                                         "active": True, "created_at": now, "updated_at": now}
                                        for n in range(2, businesses + 2)])
        rows = []
        for n in range(leads):
            created = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
            answered = rng.random() < 0.95
            rows.append({"business_id": 2 + min(int(rng.paretovariate(1.2)) - 1, businesses - 1) if n % 2 else
                         rng.randrange(2, businesses + 2), "phone": f"+1720{n:07d}", "channel": "sms",
                         "source": "form", "status": "contacted", "answers": {}, "created_at": created,
                         "updated_at": created,
                         "first_response_at": created + timedelta(seconds=rng.expovariate(1 / 40)) if answered else None,
                         "qualified_at": created if rng.random() < 0.33 else None,
                         "booked_at": created if rng.random() < 0.1 else None})
            if len(rows) == 10_000:
                conn.execute(insert(Lead), rows)
                rows = []
        if rows:
            conn.execute(insert(Lead), rows)
    if url.startswith("postgresql"):  # as autovacuum leaves a settled table: statistics, the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE leads")
    engine.dispose()


def measure(url: str, runs: int) -> dict[str, dict[str, float]]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    since = datetime.now(timezone.utc) - timedelta(days=30)
    results = {}
    for label, window in (("all_time", None), ("last_30_days", since)):
        times = []
        for _ in range(runs):
            with sessions() as session:
                start = time.perf_counter()
                figures = per_business(session, since=window)
                times.append((time.perf_counter() - start) * 1000)
        results[label] = {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                          "businesses": len(figures), "leads": sum(f.leads for f in figures)}
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=1000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        url = fresh_database(Path(work), "overview")
        upgrade(url)
        seed(url, args.businesses, args.leads)
        print(json.dumps({"database": url.split(":")[0], **measure(url, args.runs)}, indent=2))


if __name__ == "__main__":
    main()
