"""The dashboard driven in headless Chromium (Debian's chromium through Python playwright).

The browser is found at ``CHROMIUM_PATH`` or on the PATH (``apt-get install chromium``);
without one these tests are skipped, unless ``LEADLINE_REQUIRE_BROWSER=1`` (CI sets it)
makes that a failure. ``LEADLINE_SCREENSHOTS=<dir>`` saves the README's screenshots there.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from store.models import Touch
from tests.conftest import DASHBOARD_PASSWORD, REP_PHONE, lead_of, messages_to, qualify, wait_for

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM:
        message = "no Chromium: apt-get install chromium (or set CHROMIUM_PATH)"
        if os.environ.get("LEADLINE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, web) -> Iterator[object]:
    context = browser.new_context(base_url=web, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def midday_zone() -> str:
    """An IANA zone where it is about noon now (Etc/GMT signs are inverted: Etc/GMT-5 is UTC+5)."""
    from datetime import datetime, timezone

    offset = (12 - datetime.now(timezone.utc).hour + 12) % 24 - 12
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def log_in(page, password: str = DASHBOARD_PASSWORD, username: str = "owner") -> None:
    page.goto("/dashboard")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")


def screenshot(page, name: str) -> None:
    folder = os.environ.get("LEADLINE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_login_is_required_and_a_wrong_password_is_refused(page):
    page.goto("/dashboard?status=all")
    assert "/dashboard/login" in page.url
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "guess")
    page.click("button:has-text('Log in')")
    assert page.locator(".flash.error").inner_text() == "Wrong username or password."
    assert page.input_value("input[name=username]") == "owner"  # kept; the password is not
    page.fill("input[name=password]", DASHBOARD_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/dashboard?status=all")  # back where the login started
    page.click("button:has-text('Log out')")
    page.goto("/dashboard")
    assert "/dashboard/login" in page.url


def test_work_queue_shows_grades_sorted_by_score_with_call_now_for_hot_leads(page, prospect, sessions):
    hot, cold = prospect(name=None), prospect()
    qualify(hot)
    cold.say("hi")
    cold.wait_for_replies(2)
    hot_lead, cold_lead = lead_of(sessions, hot.number), lead_of(sessions, cold.number)
    log_in(page)
    page.wait_for_selector("table.work-queue")
    screenshot(page, "dashboard-queue.png")
    scores = [int(s) if s.strip() else -1 for s in page.locator("tr.lead-row .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True), "the work queue is sorted by score, highest first"
    hot_row = page.locator(f"tr[data-lead-id='{hot_lead.id}']")
    assert hot_row.locator(".grade").inner_text() == "A"
    assert hot_row.locator(".call-now").inner_text().lower() == "call now"
    assert "Dana" in hot_row.inner_text() and "qualified" in hot_row.inner_text()
    cold_row = page.locator(f"tr[data-lead-id='{cold_lead.id}']")
    assert cold_row.locator(".grade").inner_text() == "–" and cold_row.locator(".call-now").count() == 0
    assert "Next touch" in page.locator("thead").inner_text()

    page.select_option("select[name=status]", "qualified")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**status=qualified**")
    statuses = set(page.locator("tr.lead-row .status").all_inner_texts())
    assert statuses == {"qualified"}
    assert page.locator(f"tr[data-lead-id='{cold_lead.id}']").count() == 0
    page.select_option("select[name=owner]", "unassigned")
    page.click("button:has-text('Filter')")
    assert page.locator("tr.lead-row").count() == 0 and page.locator("text=No leads here.").is_visible()


def test_rep_takes_over_replies_through_twilio_and_marks_the_lead_lost(page, prospect, sandbox, sessions):
    p = prospect()
    qualify(p)
    lead = lead_of(sessions, p.number)
    wait_for(lambda: all(m["status"] == "delivered" for m in p.received()), what="delivery callbacks")
    log_in(page)
    page.goto(f"/dashboard/leads/{lead.id}")
    timeline = page.locator(".timeline")
    assert "Hi, I need a roofer" in timeline.inner_text()
    assert "Grab a time for your free estimate" in timeline.inner_text()
    assert timeline.locator(".entry-outbound .delivery.status-delivered").count() >= 6
    assert "Status contacted → qualified" in timeline.inner_text()
    assert "Touch day1 due" in timeline.inner_text()  # the owed cadence touch

    page.select_option("select[name=rep]", "Dana")
    page.click("button:has-text('Take over conversation')")
    assert "You have the conversation" in page.locator(".flash").inner_text()
    page.fill("textarea[name=body]", "Hi, it's Dana from Summit Roofing. Does Tuesday 9am work?")
    page.click("button:has-text('Send reply')")
    assert page.locator(".flash").inner_text() == "Reply queued for sending."
    received = p.wait_for_replies(7)
    assert received[-1] == "Hi, it's Dana from Summit Roofing. Does Tuesday 9am work?"
    page.reload()  # a reload after the redirect re-sends nothing
    p.assert_no_more(7, settle_s=1.0)
    with sessions() as s:
        owed = s.scalars(select(Touch).where(Touch.lead_id == lead.id, Touch.result.is_(None))).all()
    assert owed == [], "taking over stops the cadence"

    rep_before = len(messages_to(sandbox, REP_PHONE))
    p.say("Tuesday works")
    forwarded = wait_for(lambda: (m := messages_to(sandbox, REP_PHONE)) and len(m) > rep_before and m[-1])
    assert forwarded["body"] == f"Lead #{lead.id}: Tuesday works"
    p.assert_no_more(7)  # the bot stays silent
    page.reload()
    assert "Tuesday works" in page.locator(".timeline").inner_text()
    assert "Conversation taken over by Dana" in page.locator(".timeline").inner_text()
    screenshot(page, "dashboard-lead.png")

    page.select_option("select[name=reason]", "price")
    page.click("button:has-text('Mark lost')")
    assert page.locator("#lead-status").inner_text() == "lost"
    assert lead_of(sessions, p.number).lost_reason == "price"
    assert "Status qualified → lost (price)" in page.locator(".timeline").inner_text()


def test_marking_booked_stops_the_cadence_and_tells_the_owner(page, prospect, sandbox, sessions):
    p = prospect()
    qualify(p)
    lead = lead_of(sessions, p.number)
    rep_before = len(messages_to(sandbox, REP_PHONE))
    log_in(page)
    page.goto(f"/dashboard/leads/{lead.id}")
    page.click("button:has-text('Mark booked')")
    assert page.locator("#lead-status").inner_text() == "booked"
    booked = lead_of(sessions, p.number)
    assert (booked.status, booked.stop_reason) == ("booked", "booked")
    note = wait_for(lambda: (m := messages_to(sandbox, REP_PHONE)) and len(m) > rep_before and m[-1])
    assert note["body"].startswith("Booked: ") and f"Lead #{lead.id}" in note["body"]
    page.fill("textarea[name=text]", "Customer prefers mornings.")
    page.click("button:has-text('Add note')")
    assert "Customer prefers mornings. by owner" in page.locator(".timeline").inner_text()


def test_forms_without_the_csrf_token_are_refused(page, prospect, sessions, web):
    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    lead = lead_of(sessions, p.number)
    log_in(page)
    forged = page.request.post(f"/dashboard/leads/{lead.id}/won", form={"rep": "Dana"})
    assert forged.status == 400
    assert lead_of(sessions, p.number).status == "contacted"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    other_site = requests.post(f"{web}/dashboard/leads/{lead.id}/lost", data={"reason": "price"}, cookies=cookies,
                               timeout=10, allow_redirects=False)
    assert other_site.status_code == 400 and lead_of(sessions, p.number).status == "contacted"


def test_export_button_downloads_the_owner_report(page, prospect, sessions):
    p = prospect()
    qualify(p)
    lead = lead_of(sessions, p.number)
    log_in(page)
    with page.expect_download() as download:
        page.click("a:has-text('Export CSV')")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    row = next(r for r in rows if r["lead_id"] == str(lead.id))
    assert (row["status"], row["grade"], row["score"], row["owner"], row["estimated_value_usd"]) == \
        ("qualified", "A", "100", "Dana", "14000.00")
    assert float(row["first_response_minutes"]) < 1


def test_it_fits_a_phone_screen(browser, web, prospect, sessions):
    p = prospect()
    qualify(p)
    lead = lead_of(sessions, p.number)
    context = browser.new_context(base_url=web, viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        log_in(page)
        page.wait_for_selector("table.work-queue")
        for path in ("/dashboard", f"/dashboard/leads/{lead.id}"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
        button = page.locator("button:has-text('Mark booked')").bounding_box()
        assert button["height"] >= 36  # a thumb-sized target
    finally:
        context.close()


def test_a_draft_awaiting_approval_is_edited_and_sent_from_the_lead_page(page, prospect, sessions):
    from store import outbox
    from store.models import Message

    p = prospect()
    p.say("hi")
    p.wait_for_replies(2)
    lead = lead_of(sessions, p.number)
    with sessions.begin() as s:  # what a touch job leaves when the model drafted for a hot lead
        s.get(type(lead), lead.id).timezone = midday_zone()  # approval outside the lead's quiet hours
        draft_id = outbox.add_outbound(s, business_id=1, lead_id=lead.id, kind="touch", to_address=p.number,
                                       body="Drafted follow-up",
                                       dedupe_key=f"touch:test-draft-{lead.id}", from_address="+15005550006",
                                       state=outbox.AWAITING_APPROVAL)
    log_in(page)
    page.goto(f"/dashboard/leads/{lead.id}")
    assert page.locator("#draft textarea").input_value() == "Drafted follow-up"
    p.assert_no_more(2, settle_s=0.5)
    page.fill("#draft textarea", "Hi! Checking in: happy to answer any roof questions.")
    page.click("button:has-text('Approve and send')")
    assert page.locator(".flash").inner_text() == "Draft approved; it is on its way."
    assert p.wait_for_replies(3)[-1] == "Hi! Checking in: happy to answer any roof questions."
    assert page.locator("#draft").count() == 0
    assert "Draft edited and approved by Dana" in page.locator(".timeline").inner_text()
    with sessions() as s:
        assert s.get(Message, draft_id).outbox_state == "sent"


def test_an_agency_admin_switches_business_from_the_header_and_sorts_the_overview(page, sessions):
    from web.accounts import remove_user, save_user

    save_user(sessions, username="browser-agency", business_id=None, password="browser password")
    try:
        log_in(page, "browser password", username="browser-agency")
        page.wait_for_selector("table.work-queue")  # one business: it is chosen already
        assert page.locator("header select[name=business] option:checked").inner_text() == "Summit Roofing"
        page.select_option("header select[name=business]", label="All businesses")
        page.click("header button:has-text('Switch')")
        page.wait_for_url("**/dashboard/businesses")
        screenshot(page, "dashboard-businesses.png")
        page.click("th a[data-sort=p50]")
        page.wait_for_url("**sort=-p50**")
        assert "Speed to lead p50" in page.locator("th[aria-sort=descending]").inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the overview fits a phone"
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click("tr.business-row button:has-text('Summit Roofing')")
        page.wait_for_selector("table.work-queue")
        assert "Summit Roofing" in page.locator(".brand").inner_text()
    finally:
        remove_user(sessions, username="browser-agency")
