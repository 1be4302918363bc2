"""What the benchmark scripts share: percentiles, a fresh database, the Procfile, waiting for health."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import requests
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fresh_database(work: Path, name: str) -> str:
    """``DATABASE_URL`` with its public schema wiped (Postgres), else a new SQLite file in ``work``."""
    from store.db import make_engine

    url = os.environ.get("DATABASE_URL")
    if not url or url.startswith("sqlite"):
        return f"sqlite:///{work / f'{name}.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def procfile() -> dict[str, str]:
    """The Procfile's commands by process type, so benchmarks run what production runs."""
    return {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
            for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line}


def wait_healthy(url: str, timeout_s: float = 60, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; exit with the log's tail if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up" + (f":\n{log.read_text()[-3000:]}" if log else ""))


def save_results(key: str, figures: dict) -> None:
    """Merge ``figures`` into ``bench/results.json`` under ``key`` (other benchmarks' entries kept)."""
    out = ROOT / "bench" / "results.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[key] = figures
    out.write_text(json.dumps(existing, indent=2) + "\n")
