"""Two businesses on one deployment, with overlapping phone numbers, capture ids, rep phones and Calendly invitees:
neither can see, change or count the other's data through the lead API, Calendly, erasure, rep commands, the
export, ``/stats``, the dashboard or ``/metrics``."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import time
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from runtime.businesses import calendly_signing_key
from runtime.declarations import sync_directory
from store.db import make_engine, make_sessionmaker
from store.models import Activity, Lead, Suppression
from store.report import write_csv
from store.tenancy import Business
from store.tokens import issue
from tests.conftest import (
    API_TOKEN,
    CALENDLY_KEY,
    ROOT,
    SMS_FROM,
    Prospect,
    Stack,
    fresh_database,
    wait_for,
)
from tests.test_businesses import AGENCY_REP, business_file

SOUTH_SMS = "+15005550177"
SHARED_PHONE = "+17205554242"
"""A prospect of both businesses."""


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Any:
    """North (the sandbox's usual number) and South, one web app and one worker; ``two.tokens[slug][scope]``."""
    tmp = tmp_path_factory.mktemp("isolation")
    directory = tmp / "businesses"
    directory.mkdir()
    business_file(directory, "north", name="North Roofing", sms=[SMS_FROM])
    business_file(directory, "south", name="South Roofing", sms=[SOUTH_SMS])
    url = fresh_database(tmp, "_isolation")
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    sync_directory(sessions, directory)
    with sessions.begin() as s:
        ids = dict(s.execute(select(Business.slug, Business.id)).all())
        tokens = {slug: {scope: issue(s, business_id=ids[slug], scope=scope) for scope in ("leads", "stats")}
                  for slug in ("north", "south")}
    engine.dispose()
    stack = Stack(tmp, database_url=url, redis_url=redis_url, playbook=ROOT / "playbook.yaml",
                  businesses_dir=directory, queue_name="isolation-tests", business_cache_ttl_s=0)
    stack.ids, stack.tokens = ids, tokens
    yield stack
    stack.close()


def capture(two: Any, slug: str, event_id: str, phone: str = SHARED_PHONE, email: str = "pat@example.com") -> int:
    answer = requests.post(f"{two.url}/leads", headers={"Authorization": f"Bearer {two.tokens[slug]['leads']}"},
                           json={"event_id": event_id, "source": "web_form", "channel": "sms", "phone": phone,
                                 "email": email, "name": f"Pat of {slug}"}, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    return int(answer.json()["lead_id"])


def lead(two: Any, lead_id: int) -> Lead | None:
    with two.sessions() as s:
        return s.get(Lead, lead_id)


def calendly(two: Any, slug: str, payload: dict[str, Any], *, key: str | None = None) -> requests.Response:
    if key is None:
        key = calendly_signing_key(two.settings, two.runtime.for_business(two.ids[slug]).business)
    assert key is not None
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    v1 = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return requests.post(f"{two.url}/webhooks/calendly/{slug}", data=body, timeout=10,
                         headers={"Calendly-Webhook-Signature": f"t={stamp},v1={v1}", "Content-Type": "application/json"})


def invitee(uri: str, *, utm_content: str | None, phone: str = SHARED_PHONE) -> dict[str, Any]:
    return {"event": "invitee.created", "payload": {
        "uri": uri, "email": "pat@example.com", "name": "Pat", "status": "active", "rescheduled": False,
        "text_reminder_number": phone, "tracking": {"utm_content": utm_content},
        "scheduled_event": {"start_time": "2026-12-10T16:00:00.000000Z"}, "questions_and_answers": []}}


def test_the_same_capture_id_and_phone_make_one_lead_in_each_business(two):
    north, south = capture(two, "north", "form-7"), capture(two, "south", "form-7")
    assert north != south
    assert (lead(two, north).business_id, lead(two, south).business_id) == (two.ids["north"], two.ids["south"])
    assert capture(two, "north", "form-7") == north, "a retry is idempotent within its business"


def test_calendly_books_only_its_own_business_lead_whatever_the_invitee_carries(two):
    north, south = capture(two, "north", "cal-1", phone="+17205554300"), capture(two, "south", "cal-1",
                                                                                  phone="+17205554300")
    # South's booking names North's lead id and shares its phone: it can only ever be South's lead.
    answer = calendly(two, "south", invitee("https://api.calendly.com/invitees/s-1", utm_content=f"lead-{north}",
                                            phone="+17205554300"))
    assert answer.status_code == 200 and answer.json()["lead_id"] == south
    assert lead(two, north).status != "booked" and lead(two, south).status == "booked"
    forged = calendly(two, "north", invitee("https://api.calendly.com/invitees/n-1", utm_content=f"lead-{north}"),
                      key=calendly_signing_key(two.settings, two.runtime.for_business(two.ids["south"]).business))
    assert forged.status_code == 403, "South's key does not sign North's webhook"
    assert calendly(two, "nobody", {}, key=CALENDLY_KEY).status_code == 404


def test_erasure_by_a_business_token_leaves_the_other_business_untouched(two):
    phone = "+17205554400"
    north, south = capture(two, "north", "erase-1", phone=phone), capture(two, "south", "erase-1", phone=phone)
    answer = requests.post(f"{two.url}/privacy/erase", json={"phone": phone}, timeout=10,
                           headers={"Authorization": f"Bearer {two.tokens['north']['leads']}"})
    assert answer.status_code == 200 and answer.json()["erased"]["leads"] == 1
    assert lead(two, north) is None and lead(two, south) is not None


def test_the_agency_token_erases_a_number_from_every_business(two):
    phone = "+17205554410"
    north, south = capture(two, "north", "erase-all", phone=phone), capture(two, "south", "erase-all", phone=phone)
    answer = requests.post(f"{two.url}/privacy/erase", json={"phone": phone}, timeout=10,
                           headers={"Authorization": f"Bearer {API_TOKEN}"})  # API_TOKEN: the agency's here
    assert answer.status_code == 200 and answer.json()["erased"]["leads"] == 2
    assert lead(two, north) is None and lead(two, south) is None
    refused = requests.post(f"{two.url}/leads", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10,
                            json={"event_id": "x", "source": "web_form", "channel": "sms", "phone": phone})
    assert refused.status_code == 403, "a lead belongs to one business: the agency's token cannot capture one"


def test_a_stop_to_one_business_is_that_business_opt_out_only(two):
    p = Prospect(two.sandbox, "+17205554500")
    p.say("hi")
    p.wait_for_replies(2)
    p.say("STOP")
    with two.sessions() as s:
        wait_for(lambda: s.scalar(select(func.count()).select_from(Suppression)) or s.rollback(), what="the opt-out")
        assert set(s.scalars(select(Suppression.business_id))) == {two.ids["north"]}
    south = capture(two, "south", "after-stop", phone=p.number)
    assert lead(two, south).status != "opted_out", "South may still follow up: the STOP went to North's number"


def test_rep_phone_shared_by_both_commands_each_business_own_leads_only(two):
    north = capture(two, "north", "rep-1", phone="+17205554600")
    rep = Prospect(two.sandbox, AGENCY_REP)
    rep.business = SOUTH_SMS
    before = len(rep.received())
    rep.say(f"CLAIM {north}")
    answer = wait_for(lambda: len(r := rep.received()) > before and r[-1], what="the rep's answer")
    assert answer["body"].startswith(f"No lead #{north}") and answer["from"] == SOUTH_SMS
    assert not (lead(two, north).dispatcher or "").startswith("rep:"), "South's rep text claimed nothing of North's"


def test_the_export_of_one_business_holds_none_of_the_other(two):
    north = capture(two, "north", "export-1", phone="+17205554700")
    south = capture(two, "south", "export-1", phone="+17205554701")
    out = io.StringIO()
    with two.sessions() as s:
        write_csv(s, out, business_id=two.ids["south"])
        south_ids = set(s.scalars(select(Lead.id).where(Lead.business_id == two.ids["south"])))
    exported = {int(row["lead_id"]) for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert south in exported and north not in exported and exported == south_ids


def test_metrics_labels_carry_no_business_data(two):
    body = requests.get(f"{two.url}/metrics", timeout=10).text
    assert "leadline_leads" in body
    for secret in ("north", "south", SHARED_PHONE, "pat@example.com"):
        assert secret not in body


def test_each_business_dashboard_and_stats_see_and_count_only_its_own_leads(two, redis_conn):
    from tests.test_dashboard_security import clear_throttle, csrf_token, logged_in
    from web.accounts import save_user

    north, south = capture(two, "north", "dash-1", phone=SHARED_PHONE), capture(two, "south", "dash-1",
                                                                                phone=SHARED_PHONE)
    save_user(two.sessions, username="nora@north.example", business_id=two.ids["north"], password="north's own password")
    clear_throttle(redis_conn)
    nora = logged_in(two.url, "nora@north.example", "north's own password")
    queue = nora.get(f"{two.url}/dashboard", params={"status": "all"}, timeout=10).text
    shown = {int(n) for n in re.findall(r'data-lead-id="(\d+)"', queue)}
    with two.sessions() as s:
        north_ids = set(s.scalars(select(Lead.id).where(Lead.business_id == two.ids["north"])))
        counts = dict(s.execute(select(Lead.business_id, func.count()).group_by(Lead.business_id)).all())
    assert north in shown and south not in shown and shown <= north_ids
    assert nora.get(f"{two.url}/dashboard/leads/{south}", timeout=10).status_code == 404
    before = lead(two, south).status
    token = csrf_token(nora, f"{two.url}/dashboard/leads/{north}")
    acted = nora.post(f"{two.url}/dashboard/leads/{south}/won", data={"csrf_token": token}, timeout=10)
    assert acted.status_code == 404 and lead(two, south).status == before, "North's user cannot change South's lead"
    noted = nora.post(f"{two.url}/dashboard/leads/{north}/note", data={"csrf_token": token, "text": "call after 5"},
                      timeout=10, allow_redirects=False)
    assert noted.status_code == 302
    with two.sessions() as s:
        note = s.scalar(select(Activity.data).where(Activity.lead_id == north, Activity.kind == "note"))
    assert note["by"] == "nora@north.example", "the timeline names the signed-in user who acted"
    for slug in ("north", "south"):
        figures = requests.get(f"{two.url}/stats", timeout=10,
                               headers={"Authorization": f"Bearer {two.tokens[slug]['stats']}"}).json()
        assert figures["leads"]["total"] == counts[two.ids[slug]], f"{slug}'s /stats counts only its own leads"
