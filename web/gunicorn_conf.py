"""gunicorn settings the Procfile loads (``-c python:web.gunicorn_conf``): Prometheus multiprocess mode.

Each gunicorn worker is its own process with its own counters; prometheus-client's
multiprocess mode has them write to files in ``PROMETHEUS_MULTIPROC_DIR`` so that
``/metrics`` on any worker reports the sum. The directory is made (or emptied) when the
master starts; a temporary one is used when the variable is unset.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any


def on_starting(server: Any) -> None:
    """In the master, before any worker forks: a clean multiprocess directory, inherited by every worker."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="leadline-prometheus-")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited (``--max-requests`` recycling, a crash): its live gauges are dropped, its counters kept."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
