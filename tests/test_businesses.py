"""Many businesses on one deployment: businesses declared in YAML and synced, each inbound message answered by the
business that owns the number it was sent to, per-business opt-outs, and playbook versions a conversation keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.sandbox import new_sid
from graph.playbook import PlaybookError, _Yaml12Loader
from runtime.declarations import read_declarations, sync_directory
from store.db import make_engine, make_sessionmaker
from store.models import Lead, Message
from store.tenancy import Business, PlaybookVersion
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    ROOT,
    SMS_FROM,
    WHATSAPP_FROM,
    Prospect,
    Stack,
    fresh_database,
    make_playbook,
    wait_for,
)

ALPINE_SMS = "+15005550123"
AGENCY_REP = "+13035550188"
"""The rep both test businesses have (not the session's REP_PHONE: the sandbox's records are one per process)."""
NOBODY_SMS = "+15005550999"
CEDAR_SERVICE = "MG" + "c3" * 16
"""Cedar owns no number of its own here, only a Messaging Service."""


def business_file(directory: Path, slug: str, *, name: str, sms: list[str], whatsapp: list[str] | None = None,
                  greeting: str | None = None, urgency_ask: str | None = None) -> Path:
    """Write ``<slug>.yaml``: the example playbook (call window always open) as business ``name`` on ``sms``."""
    data = yaml.load(make_playbook(directory.parent).read_text(), Loader=_Yaml12Loader)
    data["business"]["name"] = name
    data["business"]["senders"] = {"sms": sms, "whatsapp": whatsapp or []}
    data["reps"] = [{"name": "Robin", "phone": AGENCY_REP}]
    data["greeting"] = greeting or f"Hi {{name}}! Thanks for reaching out to {name}. 4 quick questions."
    if urgency_ask:
        next(q for q in data["questions"] if q["id"] == "urgency")["ask"] = urgency_ask
    path = directory / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Any:
    """Two businesses (Summit on the sandbox's usual numbers, Alpine on its own) with the same rep phone, served
    by one web app and one worker; ``agency.directory`` is their BUSINESSES_DIR."""
    tmp = tmp_path_factory.mktemp("agency")
    directory = tmp / "businesses"
    directory.mkdir()
    business_file(directory, "summit", name="Summit Roofing", sms=[SMS_FROM], whatsapp=[WHATSAPP_FROM])
    business_file(directory, "alpine", name="Alpine Roofing", sms=[ALPINE_SMS])
    cedar = business_file(directory, "cedar", name="Cedar Roofing", sms=[])
    data = yaml.load(cedar.read_text(), Loader=_Yaml12Loader)
    data["business"]["senders"]["messaging_service_sid"] = CEDAR_SERVICE
    cedar.write_text(yaml.safe_dump(data, sort_keys=False))
    url = fresh_database(tmp, "_agency")
    engine = make_engine(url)
    sync_directory(make_sessionmaker(engine), directory)
    engine.dispose()
    stack = Stack(tmp, database_url=url, redis_url=redis_url, playbook=ROOT / "playbook.yaml",
                  businesses_dir=directory, queue_name="agency-tests", business_cache_ttl_s=0)
    stack.directory = directory
    yield stack
    stack.close()


_numbers = iter(range(3000, 4000))


def prospect_of(stack: Any, business_number: str, *, number: str | None = None, whatsapp: bool = False) -> Prospect:
    """A prospect writing to ``business_number``."""
    p = Prospect(stack.sandbox, number or f"+1720555{next(_numbers):04d}", whatsapp=whatsapp)
    p.business = business_number
    return p


def from_(p: Prospect) -> list[str | None]:
    return [m["from"] for m in p.received()]


def test_each_number_answers_for_its_own_business_and_one_phone_holds_two_conversations(agency):
    summit = prospect_of(agency, SMS_FROM)
    alpine = prospect_of(agency, ALPINE_SMS, number=summit.number)  # the same person, writing to both
    summit.say("hi")
    bodies = summit.wait_for_replies(2)
    assert "Summit Roofing" in bodies[0]
    alpine.say("hello")
    bodies = wait_for(lambda: len(r := [m for m in alpine.received() if m["from"] == ALPINE_SMS]) >= 2 and r,
                      what="Alpine's greeting")
    assert "Alpine Roofing" in bodies[0]["body"]
    summit.say("2")
    wait_for(lambda: len([m for m in summit.received() if m["from"] == SMS_FROM]) >= 3, what="Summit's next question")
    with agency.sessions() as s:
        leads = dict(s.execute(select(Business.slug, Lead.answers).join(Business, Business.id == Lead.business_id)
                               .where(Lead.phone == summit.number)).all())
    assert leads == {"summit": {"service_type": "replacement"}, "alpine": {}}, \
        "one lead per business, and Summit's answer stays in Summit's conversation"


def test_a_message_to_a_number_no_business_owns_is_answered_empty_and_kept_nowhere(agency, caplog):
    stranger = prospect_of(agency, NOBODY_SMS)
    sid = new_sid()
    with caplog.at_level("WARNING", logger="bot.webhook"):
        answer = stranger.say("hi, is this the plumber?", message_sid=sid)
    assert answer["webhook_status"] == 200
    stranger.assert_no_more(0, settle_s=1.0)
    with agency.sessions() as s:
        assert s.scalar(select(Message.id).where(Message.twilio_sid == sid)) is None
        assert s.scalar(select(Lead.id).where(Lead.phone == stranger.number)) is None
    logged = [r.getMessage() for r in caplog.records if "no business owns that number" in r.getMessage()]
    assert logged and sid in logged[0]


def test_a_message_through_a_business_messaging_service_is_that_business_lead(agency):
    """Twilio posts a Messaging Service's inbound messages with its ``MessagingServiceSid``: that finds the business
    when the ``To`` number is not one a business declared."""
    url = f"{agency.url}/twilio/messages"
    sid = new_sid()
    form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": "+17205553777", "To": NOBODY_SMS,
            "MessagingServiceSid": CEDAR_SERVICE, "Body": "hi", "NumMedia": "0"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    assert requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10).status_code == 200
    with agency.sessions() as s:
        stored = s.scalar(select(Business.slug).join(Message, Message.business_id == Business.id)
                          .where(Message.twilio_sid == sid))
    assert stored == "cedar"


def test_stop_to_one_business_does_not_silence_another(agency):
    summit = prospect_of(agency, SMS_FROM)
    alpine = prospect_of(agency, ALPINE_SMS, number=summit.number)
    summit.say("hi")
    summit.wait_for_replies(2)
    summit.say("STOP")
    wait_for(lambda: _status(agency, summit.number, "summit") == "opted_out", what="Summit's opt-out")
    alpine.say("hi there")
    greeting = wait_for(lambda: [m for m in alpine.received() if m["from"] == ALPINE_SMS], what="Alpine's answer")
    assert "Alpine Roofing" in greeting[0]["body"]
    assert _status(agency, summit.number, "alpine") != "opted_out"


def _status(stack: Any, phone: str, slug: str) -> str | None:
    with stack.sessions() as s:
        return s.scalar(select(Lead.status).join(Business, Business.id == Lead.business_id)
                        .where(Lead.phone == phone, Business.slug == slug))


def test_a_conversation_keeps_the_playbook_version_it_started_on_after_a_sync(agency):
    early = prospect_of(agency, ALPINE_SMS)
    early.say("hi")
    early.wait_for_replies(2)
    business_file(agency.directory, "alpine", name="Alpine Roofing", sms=[ALPINE_SMS],
                  urgency_ask="When should we come? 1 = today, 2 = this month, 3 = later.")
    report = sync_directory(agency.sessions, agency.directory)
    assert report.new_version == ["alpine"] and report.unchanged == ["cedar", "summit"]
    early.say("2")
    assert early.wait_for_replies(3)[-1].startswith("How soon do you need it?"), "the old version carries on"
    late = prospect_of(agency, ALPINE_SMS)
    late.say("hi")
    late.wait_for_replies(2)
    late.say("2")
    assert late.wait_for_replies(3)[-1].startswith("When should we come?"), "a new conversation takes the new one"
    with agency.sessions() as s:
        assert s.scalar(select(PlaybookVersion.id).join(Business, Business.id == PlaybookVersion.business_id)
                        .where(Business.slug == "alpine").order_by(PlaybookVersion.id.desc()).limit(1)) is not None


def test_the_same_rep_phone_commands_only_the_business_it_texted(agency):
    """A rep working for both: LOST <id> to Alpine's number cannot touch Summit's lead with that id."""
    summit = prospect_of(agency, SMS_FROM)
    summit.say("hi")
    summit.wait_for_replies(2)
    with agency.sessions() as s:
        lead_id = s.scalar(select(Lead.id).where(Lead.phone == summit.number))
    rep = prospect_of(agency, ALPINE_SMS, number=AGENCY_REP)
    before = len(rep.received())
    rep.say(f"LOST {lead_id} price")
    answer = wait_for(lambda: len(r := rep.received()) > before and r[-1], what="the rep's answer")
    assert answer["body"].startswith(f"No lead #{lead_id}")
    assert _status(agency, summit.number, "summit") != "lost"


def test_sync_validates_every_file_and_changes_nothing_on_an_error(tmp_path, agency):
    directory = tmp_path / "businesses"
    directory.mkdir()
    business_file(directory, "good", name="Good Co", sms=["+15005550140"])
    business_file(directory, "Bad Name", name="Bad", sms=["+15005550141"])
    business_file(directory, "twin", name="Twin", sms=["+15005550140"])
    broken = business_file(directory, "broken", name="Broken", sms=["+15005550142"])
    broken.write_text(broken.read_text().replace("timezone: America/Denver", "timezone: Mars/Olympus"))
    with pytest.raises(PlaybookError) as caught:
        read_declarations(directory)
    message = str(caught.value)
    assert "Bad Name.yaml: the file name must be a slug" in message
    assert "+15005550140 is also declared by" in message
    assert "broken.yaml: business.timezone" in message
    with pytest.raises(PlaybookError):
        sync_directory(agency.sessions, directory)
    with agency.sessions() as s:
        assert s.scalar(select(Business.id).where(Business.slug == "good")) is None, "all or nothing"


def test_the_cli_syncs_and_checks_a_businesses_directory(agency, tmp_path):
    from click.testing import CliRunner

    from app import cli

    env = {"BUSINESSES_DIR": str(agency.directory), "DATABASE_URL": agency.settings.database_url,
           "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x"}
    checked = CliRunner().invoke(cli, ["check"], env=env)
    assert checked.exit_code == 0 and "ok (3 businesses)" in checked.output
    synced = CliRunner().invoke(cli, ["businesses", "sync"], env=env)
    assert synced.exit_code == 0, synced.output
    assert "unchanged: " in synced.output
    token = CliRunner().invoke(cli, ["businesses", "token", "--business", "alpine", "--scope", "leads"], env=env)
    assert token.exit_code == 0 and token.output.startswith("ll_")
    captured = requests.post(f"{agency.url}/leads", timeout=10, headers={"Authorization": f"Bearer {token.output.strip()}"},
                             json={"event_id": "form-1", "source": "web_form", "channel": "sms", "phone": "+17205553999"})
    assert captured.status_code == 201, captured.text
    with agency.sessions() as s:
        assert s.scalar(select(Business.slug).join(Lead, Lead.business_id == Business.id)
                        .where(Lead.id == captured.json()["lead_id"])) == "alpine"
