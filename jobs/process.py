"""This process's runtime for jobs: built once from the settings with :class:`jobs.enqueue.RQJobs` as its
``jobs``, installed by the worker (:mod:`jobs.worker`) and found by every job through :func:`current`."""

from __future__ import annotations

from jobs.enqueue import RQJobs
from runtime import Runtime
from runtime import build_runtime as build_bare
from settings import Settings

_current: Runtime | None = None


def build_runtime(settings: Settings) -> Runtime:
    """A runtime whose ``jobs`` queue on RQ (the composition the web app and the worker share).

    Raises:
        graph.playbook.PlaybookError: the playbook is missing or invalid (start-up must stop).
    """
    return build_bare(settings, jobs=RQJobs)


def install(rt: Runtime) -> None:
    """Make ``rt`` the one :func:`current` returns in this process."""
    global _current
    _current = rt


def current() -> Runtime:
    """This process's runtime, built from the environment on first use (e.g. under a plain ``rq worker``)."""
    global _current
    if _current is None:
        _current = build_runtime(Settings())
    return _current
