"""``GET /metrics``: Prometheus text format (prometheus-client).

* ``leadline_http_requests_total{endpoint,status}`` and ``leadline_http_request_seconds{endpoint}``
  (histogram): the webhooks and APIs this process served. Under gunicorn, set
  ``PROMETHEUS_MULTIPROC_DIR`` (the Procfile does) so every worker process's samples are summed.
* ``leadline_jobs_total{queue,job,outcome}``: RQ jobs of every worker machine, counted in Redis.
* ``leadline_dashboard_lockouts_total``: client addresses locked out of the dashboard's login (all processes).
* ``leadline_queue_jobs{queue,state}``: jobs waiting, scheduled, running, failed, now (RQ registries).
* ``leadline_messages{direction,status}`` and ``leadline_leads{status}``: counts from the database now, every
  business's together; inbound messages whose turn was set aside are
  ``leadline_messages{direction="inbound",status="dead_lettered"}``.

With ``METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>`` (Prometheus's ``authorization``
scrape setting); unset, the endpoint is open, for a scraper inside the deployment's private network.

Scraped values come from shared stores (Redis, the database), so any web process answers
for the whole deployment except the per-process HTTP series.

Businesses. ``/metrics`` is the operator's view of the whole deployment: every series is summed over every
business, and no label carries a business (its id or slug), a lead, a phone number or anything a prospect or
a business wrote; label values come from fixed sets (statuses, directions, endpoints, job names). Per-business
labels would let anyone allowed to scrape count each business's leads and messages, and would multiply the
series by the number of businesses. A business's own figures are ``GET /stats`` with its token.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from store.job_counts import job_counts
from store.stats import lead_counts, message_counts
from web.auth import bearer
from web.signin import lockout_count

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

HTTP_REQUESTS = Counter("leadline_http_requests", "HTTP requests served, by endpoint and status code.",
                        ["endpoint", "status"])
HTTP_SECONDS = Histogram("leadline_http_request_seconds", "Time to answer a request, seconds.", ["endpoint"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
MEASURED = ("twilio.inbound", "twilio.status", "leads.capture", "calendly.calendly", "stats.stats")


def instrument(app: Flask) -> None:
    """Time the webhooks and APIs and count their answers."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        if request.endpoint in MEASURED and hasattr(g, "metrics_started"):
            HTTP_SECONDS.labels(request.endpoint).observe(time.perf_counter() - g.metrics_started)
            HTTP_REQUESTS.labels(request.endpoint, str(response.status_code)).inc()
        return response


class LeadlineCollector(Collector):
    """Reads the shared figures (Redis, database) at scrape time."""

    def __init__(self, rt: Any):
        self.rt = rt

    def collect(self) -> Iterator[Any]:
        rt = self.rt
        jobs = CounterMetricFamily("leadline_jobs", "RQ jobs finished, by queue, job and outcome.",
                                   labels=["queue", "job", "outcome"])
        states = GaugeMetricFamily("leadline_queue_jobs", "RQ jobs by state now.", labels=["queue", "state"])
        try:
            for queue, job, outcome, count in job_counts(rt.redis):
                jobs.add_metric([queue, job, outcome], count)
            q = rt.queue
            for state, size in (("queued", q.count),
                                ("started", StartedJobRegistry(queue=q).count),
                                ("scheduled", ScheduledJobRegistry(queue=q).count),
                                ("deferred", DeferredJobRegistry(queue=q).count),
                                ("failed", FailedJobRegistry(queue=q).count)):
                states.add_metric([q.name, state], size)
        except Exception:
            log.warning("metrics: Redis unavailable", exc_info=True)
        yield jobs
        yield states
        lockouts = CounterMetricFamily("leadline_dashboard_lockouts",
                                       "Dashboard login lockouts: a client address refused for too many attempts "
                                       "in a 15-minute window, all web processes.")
        try:
            lockouts.add_metric([], lockout_count(rt.redis))
        except Exception:
            log.warning("metrics: Redis unavailable", exc_info=True)
        yield lockouts
        messages = GaugeMetricFamily("leadline_messages", "Messages by direction and status now.",
                                     labels=["direction", "status"])
        leads = GaugeMetricFamily("leadline_leads", "Leads by status now.", labels=["status"])
        try:
            with rt.sessions() as session:
                for direction, state, count in message_counts(session):
                    messages.add_metric([direction, state], count)
                for state, count in lead_counts(session):
                    leads.add_metric([state], count)
        except Exception:
            log.warning("metrics: database unavailable", exc_info=True)
        yield messages
        yield leads


def registry_for(rt: Any) -> CollectorRegistry:
    """This process's registry: the shared figures plus the HTTP series (summed over processes in multiprocess mode)."""
    registry = CollectorRegistry()
    if rt.settings.prometheus_multiproc_dir:  # gunicorn_conf exported it, so prometheus-client writes to files
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(HTTP_SECONDS)
    registry.register(LeadlineCollector(rt))
    return registry


@bp.get("/metrics")
@bearer("metrics_token", open_when_unset=True)
def metrics() -> Response:
    """The Prometheus exposition; ``Authorization: Bearer $METRICS_TOKEN`` when that is set (else 401)."""
    registry = current_app.extensions.setdefault("leadline_metrics", registry_for(current_app.extensions["leadline"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
