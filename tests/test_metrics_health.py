"""``/metrics`` (Prometheus text) and ``/healthz`` (database and Redis, each reported)."""

from __future__ import annotations

from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app import create_app
from bot.sandbox import serve_in_thread
from tests.conftest import free_port, stack_settings, wait_for


def served(app: Any, call: Any) -> Any:
    """``call(base_url)`` against ``app`` served on loopback for the call, then shut down."""
    server, base = serve_in_thread(app)
    try:
        return call(base)
    finally:
        server.shutdown()
        app.extensions["leadline"].close()


def samples(web: str) -> dict[tuple[str, frozenset], float]:
    answer = requests.get(f"{web}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_webhooks_jobs_messages_and_leads(web, prospect):
    before = samples(web)
    p = prospect()
    p.say("hello")
    p.wait_for_replies(2)
    after = wait_for(lambda: (m := samples(web)) and value(m, "leadline_jobs_total", queue="leadline",
                                                            job="process_conversation", outcome="succeeded")
                     > value(before, "leadline_jobs_total", queue="leadline", job="process_conversation",
                             outcome="succeeded") and m, what="the worker's job counted")
    inbound = dict(endpoint="twilio.inbound", status="200")
    assert value(after, "leadline_http_requests_total", **inbound) == value(before, "leadline_http_requests_total", **inbound) + 1
    assert value(after, "leadline_http_request_seconds_count", endpoint="twilio.inbound") >= 1
    assert value(after, "leadline_http_request_seconds_bucket", endpoint="twilio.inbound", le="+Inf") >= 1
    assert value(after, "leadline_leads", status="contacted") >= 1
    assert value(after, "leadline_messages", direction="inbound", status="received") >= 1
    assert sum(v for (name, labels), v in after.items() if name == "leadline_messages"
               and ("direction", "outbound") in labels) >= 2
    assert ("leadline_queue_jobs", frozenset({"queue": "leadline", "state": "queued"}.items())) in after


def test_healthz_reports_database_and_redis_separately(web, settings, tmp_path):
    ok = requests.get(f"{web}/healthz", timeout=10)
    assert ok.status_code == 200 and ok.json() == {"status": "ok", "database": "ok", "redis": "ok"}

    dead = f"127.0.0.1:{free_port()}"
    for overrides, down in (({"redis_url": f"redis://{dead}/0"}, "redis"),
                            ({"database_url": f"postgresql+psycopg://postgres@{dead}/test"}, "database")):
        broken = stack_settings(**{**dict(database_url=settings.database_url, redis_url=settings.redis_url,
                                          sandbox_url=settings.twilio_api_base_url, web_port=9,
                                          playbook=settings.playbook), **overrides})
        answer = served(create_app(broken), lambda base: requests.get(f"{base}/healthz", timeout=20))
        assert answer.status_code == 503
        assert answer.json()[down] == "down" and answer.json()["status"] == "degraded"
        assert answer.json()["redis" if down == "database" else "database"] == "ok"


def test_webhook_answers_a_fast_503_when_the_database_is_down(settings):
    """Twilio takes a 5xx as a reason to try the fallback URL; a hang would tie up its request instead."""
    import time

    from tests.test_webhook import inbound_form, post_signed

    dead = f"127.0.0.1:{free_port()}"
    broken = stack_settings(database_url=f"postgresql+psycopg://postgres@{dead}/test", redis_url=settings.redis_url,
                            sandbox_url=settings.twilio_api_base_url, web_port=9, playbook=settings.playbook)
    app = create_app(broken)
    server, base = serve_in_thread(app)
    try:
        started = time.monotonic()
        answer = post_signed(f"{base}/twilio/messages", inbound_form("+17205558888"),
                             signed_url="http://127.0.0.1:9/twilio/messages")
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        app.extensions["leadline"].close()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert elapsed < 5


def test_metrics_need_the_bearer_token_when_one_is_set(web, settings):
    assert requests.get(f"{web}/metrics", timeout=10).status_code == 200  # METRICS_TOKEN unset: open
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr("test-metrics-token")}))
    server, base = serve_in_thread(app)
    try:
        refused = [requests.get(f"{base}/metrics", headers=h, timeout=10)
                   for h in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-metrics-token"})]
        allowed = requests.get(f"{base}/metrics", headers={"Authorization": "Bearer test-metrics-token"}, timeout=10)
    finally:
        server.shutdown()
        app.extensions["leadline"].close()
    assert [r.status_code for r in refused] == [401, 401, 401]
    assert all("leadline_leads" not in r.text for r in refused)
    assert allowed.status_code == 200 and "leadline_leads" in allowed.text


def test_a_value_the_database_refuses_is_a_422_not_a_503(settings):
    """A DataError (Postgres refusing a NUL, a number out of range) is the request's fault: Twilio must not be told
    to retry it, and the dashboard user sees a clear refusal."""
    from sqlalchemy import text
    from sqlalchemy.exc import DataError

    app = create_app(settings)

    def refused() -> str:
        with app.extensions["leadline"].engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT :value"), {"value": "a\x00b"})  # Postgres text cannot hold NUL
            raise DataError("SELECT :value", {}, ValueError("value out of range"))

    app.add_url_rule("/probe-data-error", view_func=refused)
    answer = served(app, lambda base: requests.get(f"{base}/probe-data-error", timeout=10))
    assert answer.status_code == 422 and "cannot be stored" in answer.json()["error"]
