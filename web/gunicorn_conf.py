"""gunicorn settings the Procfile loads (``-c python:web.gunicorn_conf``): Prometheus multiprocess mode.

Each gunicorn worker is its own process with its own counters; prometheus-client's
multiprocess mode has them write to files in ``PROMETHEUS_MULTIPROC_DIR`` so that
``/metrics`` on any worker reports the sum. The directory is made (or emptied) when the
master starts; a temporary one is used when the variable is unset. The master reads it
from the same :class:`settings.Settings` the workers build, so a configuration they would
refuse stops gunicorn before any worker forks.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from settings import Settings, export_prometheus_multiproc_dir


def on_starting(server: Any) -> None:
    """In the master, before any worker forks: a clean multiprocess directory, inherited by every worker."""
    path = Settings().prometheus_multiproc_dir or Path(tempfile.mkdtemp(prefix="leadline-prometheus-"))
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    export_prometheus_multiproc_dir(path)  # prometheus-client reads it from the environment, in every worker


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited (``--max-requests`` recycling, a crash): its live gauges are dropped, its counters kept."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
