"""The RQ worker class Leadline runs on its job threads: RQ's ``SimpleWorker`` counting each job's outcome
in Redis (:mod:`store.job_counts`), so ``/metrics`` on any web process sees every worker's jobs."""

from __future__ import annotations

from typing import Any

from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue

from store.job_counts import count_job


class CountingWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` that counts each job's outcome (see the module docstring)."""

    def handle_job_success(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> Any:
        count_job(self.connection, queue=queue.name, func_name=job.func_name, outcome="succeeded")
        return super().handle_job_success(job, queue, *args, **kwargs)

    def handle_job_failure(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> Any:
        retrying = job.retries_left is not None and job.retries_left > 0
        count_job(self.connection, queue=queue.name, func_name=job.func_name, outcome="retried" if retrying else "failed")
        return super().handle_job_failure(job, queue, *args, **kwargs)
