"""``GET /stats`` with many businesses: a business's token sees its own report only; the agency's sees every
business's totals and each business's headline figures, or one business with ``?business=``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from store.models import CaptureEvent, LlmCall, Message, Touch
from store.tokens import issue
from tests.businesses import T0, Tenants, add_lead, tenant_app
from tests.conftest import STATS_TOKEN

WINDOW = {"since": "2020-03-01", "until": "2020-04-01"}


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Tenants]:
    """Two businesses: Summit (3 leads answered in 1, 2 and 10 minutes; 1 qualified, 1 booked; a duplicate capture, a
    queued send, a touch and a model call) and Alpine (2 leads answered in 30 and 60 minutes, both qualified)."""
    businesses = {"summit": {"name": "Summit Roofing", "sms": ["+13035550001"], "qualified_per_month": 4},
                  "alpine": {"name": "Alpine Roofing", "sms": ["+13035550002"], "zone": "Europe/London"}}
    with tenant_app(tmp_path_factory.mktemp("stats"), redis_url, "_stats", businesses) as t:
        summit, alpine = t.ids["summit"], t.ids["alpine"]
        with t.sessions.begin() as s:
            first = add_lead(s, summit, "+17205550101", answered_after=1, qualified_at=T0, status="qualified")
            add_lead(s, summit, "+17205550102", answered_after=2, qualified_at=T0, booked_at=T0, status="booked")
            add_lead(s, summit, "+17205550103", answered_after=10)
            for n, minutes in enumerate((30, 60)):
                add_lead(s, alpine, f"+1720555020{n}", answered_after=minutes, qualified_at=T0, status="qualified")
            s.add(CaptureEvent(business_id=summit, event_id="dup", lead_id=first.id, source="form", received_at=T0,
                               channel="sms", contact_method="sms", duplicate=True))
            s.add(Message(business_id=summit, lead_id=first.id, direction="outbound", kind="touch", body="queued",
                          to_address=first.phone, from_address="+13035550001", outbox_state="pending"))
            s.add(Touch(business_id=summit, lead_id=first.id, step="day1", attempt_number=1, due_at=T0,
                        attempted_at=T0, result="skipped_quiet_hours"))
            s.add(LlmCall(business_id=summit, purpose="extract", model="test", outcome="ok", latency_ms=120, prompt_tokens=10,
                          completion_tokens=5, created_at=T0))
            t.tokens = {"summit": issue(s, business_id=summit, scope="stats"),
                        "alpine": issue(s, business_id=alpine, scope="stats"),
                        "summit_leads": issue(s, business_id=summit, scope="leads"),
                        "agency": issue(s, business_id=None, scope="stats")}
        yield t


def get(t: Tenants, token: str, **params: str) -> requests.Response:
    return requests.get(f"{t.url}/stats", params={**WINDOW, **params}, headers={"Authorization": f"Bearer {token}"},
                        timeout=10)


def test_a_business_token_sees_its_own_report_only(tenants: Tenants) -> None:
    summit = get(tenants, tenants.tokens["summit"]).json()
    assert summit["business"] == {"slug": "summit", "name": "Summit Roofing"}
    assert summit["leads"]["total"] == 3 and (summit["qualified"], summit["booked"]) == (2, 1)
    assert summit["first_response_minutes"] == {"p50": 2.0, "p90": 10.0, "answered": 3, "late": 1}
    assert summit["lost_reasons"]["duplicate"] == 1
    assert summit["send_backlog"]["total"] == 1 and summit["touches"]["day1"]["skipped"] == 1
    assert summit["llm"]["calls"] == {"extract": {"ok": 1}}
    assert summit["goals"]["qualified_per_month"] == 4 and "businesses" not in summit

    alpine = get(tenants, tenants.tokens["alpine"]).json()
    assert alpine["business"]["slug"] == "alpine" and alpine["leads"]["total"] == 2
    assert alpine["first_response_minutes"] == {"p50": 30.0, "p90": 60.0, "answered": 2, "late": 2}
    assert alpine["lost_reasons"]["duplicate"] == 0 and alpine["send_backlog"] == {"total": 0, "senders": {}}
    assert alpine["touches"]["day1"]["skipped"] == 0 and alpine["llm"]["calls"] == {}
    assert alpine["goals"]["qualified_per_month"] is None


def test_a_business_token_cannot_ask_for_another_business(tenants: Tenants) -> None:
    for slug in ("alpine", "no-such-business"):
        answer = get(tenants, tenants.tokens["summit"], business=slug)
        assert answer.status_code == 404 and answer.json() == {"error": "no such business"}
    assert get(tenants, tenants.tokens["summit"], business="summit").json()["leads"]["total"] == 3
    assert get(tenants, tenants.tokens["summit_leads"]).status_code == 401  # a leads token is not a stats token


@pytest.mark.parametrize("which", ["agency", "env"])
def test_the_agency_token_sees_every_business_totals_and_each_business(tenants: Tenants, which: str) -> None:
    token = tenants.tokens["agency"] if which == "agency" else STATS_TOKEN  # STATS_TOKEN is the agency's here
    answer = get(tenants, token)
    assert answer.status_code == 200
    stats: dict[str, Any] = answer.json()
    assert stats["leads"]["total"] == 5 and (stats["qualified"], stats["booked"]) == (4, 1)
    assert stats["first_response_minutes"] == {"p50": 10.0, "p90": 60.0, "answered": 5, "late": 3}
    assert stats["send_backlog"]["total"] == 1 and stats["goals"]["qualified_per_month"] is None
    assert stats["businesses"] == [
        {"slug": "alpine", "name": "Alpine Roofing", "leads": 2, "first_response_minutes": {"p50": 30.0, "p90": 60.0},
         "qualified": 2, "booked": 0, "qualification_rate": 1.0, "booking_rate": 0.0},
        {"slug": "summit", "name": "Summit Roofing", "leads": 3, "first_response_minutes": {"p50": 2.0, "p90": 10.0},
         "qualified": 2, "booked": 1, "qualification_rate": 0.6667, "booking_rate": 0.3333}]
    outside = get(tenants, token, since="2021-01-01", until="2021-02-01").json()
    assert outside["leads"]["total"] == 0 and {b["leads"] for b in outside["businesses"]} == {0}
    assert {b["first_response_minutes"]["p50"] for b in outside["businesses"]} == {None}


def test_the_agency_token_can_ask_for_one_business(tenants: Tenants) -> None:
    alpine = get(tenants, tenants.tokens["agency"], business="alpine").json()
    assert alpine["business"]["slug"] == "alpine" and alpine["leads"]["total"] == 2 and "businesses" not in alpine
    assert get(tenants, tenants.tokens["agency"], business="nope").status_code == 404


def test_stats_still_needs_a_token(tenants: Tenants) -> None:
    assert requests.get(f"{tenants.url}/stats", timeout=10).status_code == 401
    assert get(tenants, "ll_not-a-token").status_code == 401


def test_metrics_count_every_business_together_and_name_none(tenants: Tenants) -> None:
    metrics = requests.get(f"{tenants.url}/metrics", timeout=10).text
    assert 'leadline_leads{status="qualified"} 3.0' in metrics and 'leadline_leads{status="contacted"} 1.0' in metrics
    for private in ("summit", "alpine", "Roofing", "+1720555", "business"):
        assert private not in metrics.replace("leadline_", ""), private
