"""The dashboard with many businesses, over real HTTP: each user signs in with their own username and password,
sees and acts on their business's leads only, and an agency admin gets the overview of every business, sortable,
and a switcher."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
import requests
from redis import Redis
from sqlalchemy import func, select, update

from store import outbox
from store.models import Activity, Lead, Message
from store.tenancy import Business
from tests.businesses import T0, Tenants, add_lead, tenant_app
from tests.test_dashboard_security import clear_throttle, csrf_token, logged_in, try_login
from web.accounts import remove_user, save_user
from web.dashboard.overview import speed

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Tenants]:
    """Three businesses: Summit (3 leads: answered in 1, 2 and 10 minutes; 2 qualified, 1 booked), Alpine (2 leads:
    30 and 60 minutes, both qualified, one with a draft awaiting approval) and Cedar (none); users ``sam`` of Summit,
    ``al`` of Alpine and ``agency``, an agency admin. ``t.leads``: lead ids by business, and Alpine's draft."""
    businesses = {"summit": {"name": "Summit Roofing", "sms": ["+13035550011"]},
                  "alpine": {"name": "Alpine Roofing", "sms": ["+13035550012"]},
                  "cedar": {"name": "Cedar Roofing", "sms": ["+13035550013"]}}
    with tenant_app(tmp_path_factory.mktemp("dash"), redis_url, "_dash", businesses) as t:
        summit, alpine = t.ids["summit"], t.ids["alpine"]
        with t.sessions.begin() as s:
            mine = [add_lead(s, summit, "+17205550301", answered_after=1, status="qualified", qualified_at=T0),
                    add_lead(s, summit, "+17205550302", answered_after=2, status="booked", qualified_at=T0,
                             booked_at=T0),
                    add_lead(s, summit, "+17205550303", answered_after=10)]
            theirs = [add_lead(s, alpine, f"+1720555040{n}", answered_after=m, status="qualified", qualified_at=T0)
                      for n, m in enumerate((30, 60))]
            draft = outbox.add_outbound(s, business_id=alpine, lead_id=theirs[0].id, kind="touch", body="Drafted",
                                        to_address=theirs[0].phone, dedupe_key="touch:dash-draft",
                                        from_address="+13035550012", state=outbox.AWAITING_APPROVAL)
            t.leads = {"summit": [lead.id for lead in mine], "alpine": [lead.id for lead in theirs], "draft": draft}
        save_user(t.sessions, username="sam", business_id=summit, password=PASSWORD)
        save_user(t.sessions, username="al", business_id=alpine, password=PASSWORD)
        save_user(t.sessions, username="agency", business_id=None, password=PASSWORD)
        yield t


@pytest.fixture(autouse=True)
def fresh_throttle(redis_conn: Redis) -> Iterator[None]:
    clear_throttle(redis_conn)
    yield
    clear_throttle(redis_conn)


def lead_ids_on(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-lead-id="(\d+)"', page)}


def business_order(page: str) -> list[str]:
    return re.findall(r'data-business="([a-z0-9-]+)"', page)


# --- signing in -------------------------------------------------------------------------------------------

def test_wrong_username_or_password_is_401_with_the_same_answer(tenants: Tenants) -> None:
    answers = [try_login(tenants.url, PASSWORD, username="nobody"), try_login(tenants.url, "wrong", username="sam"),
               try_login(tenants.url, PASSWORD, username="")]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all("Wrong username or password." in a.text for a in answers)
    assert try_login(tenants.url, PASSWORD, username="  SAM ").status_code == 302  # any case, spaces trimmed


def test_a_removed_user_or_a_changed_password_ends_the_session(tenants: Tenants) -> None:
    save_user(tenants.sessions, username="temp", business_id=tenants.ids["summit"], password=PASSWORD)
    client = logged_in(tenants.url, "temp", PASSWORD)
    assert client.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False).status_code == 200
    save_user(tenants.sessions, username="temp", business_id=tenants.ids["summit"], password="a new password!",
              update=True)
    gone = client.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False)
    assert gone.status_code == 302 and "/dashboard/login" in gone.headers["Location"]
    client = logged_in(tenants.url, "temp", "a new password!")
    remove_user(tenants.sessions, username="temp")
    gone = client.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False)
    assert gone.status_code == 302 and "/dashboard/login" in gone.headers["Location"]


# --- a business's user: their business only ---------------------------------------------------------------

def test_a_business_user_sees_only_their_business(tenants: Tenants) -> None:
    sam = logged_in(tenants.url, "sam", PASSWORD)
    queue = sam.get(f"{tenants.url}/dashboard", params={"status": "all"}, timeout=10)
    assert queue.status_code == 200 and "Summit Roofing" in queue.text
    assert lead_ids_on(queue.text) == set(tenants.leads["summit"])
    assert 'name="business"' not in queue.text and "All businesses" not in queue.text  # no switcher
    exported = sam.get(f"{tenants.url}/dashboard/export.csv", timeout=10).text
    assert {int(r["lead_id"]) for r in csv.DictReader(io.StringIO(exported))} == set(tenants.leads["summit"])
    own = tenants.leads["summit"][0]
    assert sam.get(f"{tenants.url}/dashboard/leads/{own}", timeout=10).status_code == 200
    for other in tenants.leads["alpine"]:
        assert sam.get(f"{tenants.url}/dashboard/leads/{other}", timeout=10).status_code == 404
    assert sam.get(f"{tenants.url}/dashboard/businesses", timeout=10).status_code == 404


ACTIONS = ["booked", "won", "lost", "claim", "take-over", "hand-back", "reply", "note", "drafts/{draft}/approve"]


def snapshot(t: Tenants, lead_id: int) -> tuple:
    with t.sessions() as s:
        lead = s.get(Lead, lead_id)
        return (lead.status, lead.owner, lead.taken_over_by, lead.lost_reason, lead.booked_at,
                s.scalar(select(func.count()).select_from(Activity).where(Activity.lead_id == lead_id)),
                s.scalar(select(func.count()).select_from(Message).where(Message.lead_id == lead_id)),
                s.scalar(select(Message.outbox_state).where(Message.id == t.leads["draft"])))


def test_a_business_user_cannot_act_on_another_business_lead(tenants: Tenants) -> None:
    sam = logged_in(tenants.url, "sam", PASSWORD)
    token = csrf_token(sam, f"{tenants.url}/dashboard")
    theirs = tenants.leads["alpine"][0]
    before = snapshot(tenants, theirs)
    form = {"csrf_token": token, "nonce": "n1", "reason": "price", "rep": "Dana", "body": "hi", "text": "a note"}
    for action in ACTIONS:
        path = f"/dashboard/leads/{theirs}/{action.format(draft=tenants.leads['draft'])}"
        answer = sam.post(f"{tenants.url}{path}", data=form, timeout=10, allow_redirects=False)
        assert answer.status_code == 404, (action, answer.status_code)
    # Their draft, approved through one of Summit's own leads, is not found either.
    mine = tenants.leads["summit"][2]
    approve = sam.post(f"{tenants.url}/dashboard/leads/{mine}/drafts/{tenants.leads['draft']}/approve", data=form,
                       timeout=10)
    assert "that draft does not exist" in approve.text
    assert snapshot(tenants, theirs) == before
    noted = sam.post(f"{tenants.url}/dashboard/leads/{mine}/note", data=form, timeout=10)
    assert "Note added." in noted.text and "a note by Dana" in noted.text  # the same form works on Summit's lead


# --- the agency: an overview and a switcher ---------------------------------------------------------------

def test_an_agency_admin_starts_at_the_overview_with_a_switcher(tenants: Tenants) -> None:
    agency = logged_in(tenants.url, "agency", PASSWORD)
    first = agency.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False)
    assert first.status_code == 302 and first.headers["Location"].endswith("/dashboard/businesses")
    page = agency.get(f"{tenants.url}/dashboard/businesses", params={"days": "all"}, timeout=10).text
    switcher = re.search(r'<select name="business".*?</select>', page, re.S).group(0)
    assert re.findall(r">([A-Za-z ]+)</option>", switcher) == ["All businesses", "Alpine Roofing", "Cedar Roofing",
                                                               "Summit Roofing"]
    assert business_order(page) == ["summit", "alpine", "cedar"]  # busiest first
    summit = re.search(r'data-business="summit".*?</tr>', page, re.S).group(0)
    for cell in ('class="leads">3<', 'class="p50">2.0 min<', 'class="p90">10.0 min<',
                 'class="qualification_rate">67%<', 'class="booking_rate">33%<'):
        assert cell in summit, cell
    cedar = re.search(r'data-business="cedar".*?</tr>', page, re.S).group(0)
    assert 'class="leads">0<' in cedar and 'class="p50">–<' in cedar
    recent = agency.get(f"{tenants.url}/dashboard/businesses", timeout=10).text  # the last 30 days: none of them
    assert "3 businesses, 0 leads in the last 30 days" in " ".join(recent.split())
    for path in ("/dashboard/export.csv", f"/dashboard/leads/{tenants.leads['summit'][0]}"):
        answer = agency.get(f"{tenants.url}{path}", timeout=10, allow_redirects=False)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/businesses"), path


@pytest.mark.parametrize("sort, order", [
    ("-leads", ["summit", "alpine", "cedar"]), ("leads", ["cedar", "alpine", "summit"]),
    ("name", ["alpine", "cedar", "summit"]), ("-name", ["summit", "cedar", "alpine"]),
    ("p50", ["summit", "alpine", "cedar"]), ("-p50", ["alpine", "summit", "cedar"]),
    ("-p90", ["alpine", "summit", "cedar"]),
    ("qualification_rate", ["summit", "alpine", "cedar"]), ("-qualification_rate", ["alpine", "summit", "cedar"]),
    ("booking_rate", ["alpine", "summit", "cedar"]), ("-booking_rate", ["summit", "alpine", "cedar"]),
    ("password_hash", ["summit", "alpine", "cedar"])])
def test_the_overview_sorts_by_each_column_with_missing_figures_last(tenants: Tenants, sort: str,
                                                                     order: list[str]) -> None:
    agency = logged_in(tenants.url, "agency", PASSWORD)
    page = agency.get(f"{tenants.url}/dashboard/businesses", params={"sort": sort, "days": "all"}, timeout=10).text
    assert business_order(page) == order
    if sort != "password_hash":  # the heading sorted by links to the other direction
        flipped = sort[1:] if sort.startswith("-") else f"-{sort}"
        assert f'sort={flipped}&amp;days=all" data-sort="{sort.lstrip("-")}"' in page


def test_speeds_read_in_seconds_under_a_minute() -> None:
    assert [speed(v) for v in (None, 0.0, 0.5, 1.0, 12.345)] == ["–", "0 s", "30 s", "1.0 min", "12.3 min"]


def test_the_switcher_chooses_a_business_and_keeps_to_it(tenants: Tenants) -> None:
    agency = logged_in(tenants.url, "agency", PASSWORD)
    token = csrf_token(agency, f"{tenants.url}/dashboard/businesses")
    switched = agency.post(f"{tenants.url}/dashboard/switch", data={"csrf_token": token,
                                                                     "business": tenants.ids["alpine"]}, timeout=10)
    assert switched.url.rstrip("/").endswith("/dashboard") and "Leadline · Alpine Roofing" in switched.text
    assert lead_ids_on(agency.get(f"{tenants.url}/dashboard", params={"status": "all"}, timeout=10).text) == \
        set(tenants.leads["alpine"])
    assert agency.get(f"{tenants.url}/dashboard/leads/{tenants.leads['alpine'][0]}", timeout=10).status_code == 200
    assert agency.get(f"{tenants.url}/dashboard/leads/{tenants.leads['summit'][0]}", timeout=10).status_code == 404
    assert re.search(rf'<option value="{tenants.ids["alpine"]}" selected>', switched.text)

    bogus = agency.post(f"{tenants.url}/dashboard/switch", data={"csrf_token": token, "business": "999999"},
                        timeout=10, allow_redirects=False)
    assert bogus.headers["Location"].endswith("/dashboard/businesses")
    assert agency.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False).status_code == 302


def test_a_retired_business_is_forgotten_by_the_switcher(tenants: Tenants) -> None:
    agency = logged_in(tenants.url, "agency", PASSWORD)
    token = csrf_token(agency, f"{tenants.url}/dashboard/businesses")
    agency.post(f"{tenants.url}/dashboard/switch", data={"csrf_token": token, "business": tenants.ids["cedar"]},
                timeout=10)
    assert agency.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False).status_code == 200
    with tenants.sessions.begin() as s:
        s.execute(update(Business).where(Business.slug == "cedar").values(active=False))
    try:
        answer = agency.get(f"{tenants.url}/dashboard", timeout=10, allow_redirects=False)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/businesses")
        assert "cedar" not in business_order(agency.get(f"{tenants.url}/dashboard/businesses", timeout=10).text)
    finally:
        with tenants.sessions.begin() as s:
            s.execute(update(Business).where(Business.slug == "cedar").values(active=True))


def test_a_business_user_cannot_switch(tenants: Tenants) -> None:
    al = logged_in(tenants.url, "al", PASSWORD)
    token = csrf_token(al, f"{tenants.url}/dashboard")
    answer = al.post(f"{tenants.url}/dashboard/switch", data={"csrf_token": token, "business": tenants.ids["summit"]},
                     timeout=10, allow_redirects=False)
    assert answer.status_code == 404
    assert lead_ids_on(al.get(f"{tenants.url}/dashboard", params={"status": "all"}, timeout=10).text) == \
        set(tenants.leads["alpine"])
    assert requests.get(f"{tenants.url}/dashboard/businesses", timeout=10, allow_redirects=False).status_code == 302


def test_in_a_one_business_deployment_an_agency_admin_works_on_that_business(web: str, sessions) -> None:
    save_user(sessions, username="solo-agency", business_id=None, password=PASSWORD)
    try:
        agency = logged_in(web, "solo-agency", PASSWORD)
        queue = agency.get(f"{web}/dashboard", timeout=10, allow_redirects=False)
        assert queue.status_code == 200 and "Work queue" in queue.text
        switcher = re.search(r'<select name="business".*?</select>', queue.text, re.S).group(0)
        assert len(re.findall(r"<option ", switcher)) == 2 and " selected>" in switcher.split("</option>")[1]
        assert business_order(agency.get(f"{web}/dashboard/businesses", timeout=10).text) == ["default"]
    finally:
        remove_user(sessions, username="solo-agency")
