"""WhatsApp content templates: the sandbox keeps the Content API's contract, and ``leadline content sync`` makes one
template per tappable question and language through the real twilio client, once per definition."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.delivery.buttons import content_sid_for, sync, template_for
from bot.sandbox import create_sandbox, serve_in_thread
from bot.twilio.client import RebasedHttpClient
from bot.twilio.content import Choice, ContentTemplate, create_content
from graph.playbook import _Yaml12Loader, load_playbook
from store import content_templates
from store.db import make_engine, make_sessionmaker
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, fresh_database, settings_env, stack_settings

CONTENT_FIELDS = {"sid", "account_sid", "friendly_name", "language", "variables", "types", "url", "links",
                  "date_created", "date_updated"}
"""The Content resource's properties (twilio-oai ``content.v1.content``; the twilio package's ContentInstance)."""

TAPPABLE = {"service_type": "twilio/quick-reply", "urgency": "twilio/quick-reply", "is_owner": "twilio/quick-reply"}
"""The example playbook's questions answered by tapping, and how (its ZIP code question is typed)."""


class Twin:
    """A sandbox of its own, the real twilio client pointed at it, and a database of its own."""

    def __init__(self, tmp: Path, name: str):
        self.app = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        self.server, self.url = serve_in_thread(self.app)
        self.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(self.url, timeout=10))
        self.database_url = fresh_database(tmp, f"_{name}")
        self.engine = make_engine(self.database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)

    def fresh_sandbox(self) -> None:
        """Replace the sandbox by a new, empty one (as each ``make run`` starts one), same database."""
        self.server.shutdown()
        self.app = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        self.server, self.url = serve_in_thread(self.app)
        self.client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedHttpClient(self.url, timeout=10))

    def close(self) -> None:
        self.server.shutdown()
        self.engine.dispose()


@pytest.fixture
def twin(tmp_path: Path) -> Any:
    made = Twin(tmp_path, "content")
    yield made
    made.close()


def playbook_file(tmp: Path, edit: Any = None) -> Path:
    """The example playbook, changed by ``edit(data)``, in a file of its own."""
    data = yaml.load((ROOT / "playbook.yaml").read_text(), Loader=_Yaml12Loader)
    if edit is not None:
        edit(data)
    path = tmp / f"playbook-{secrets.token_hex(4)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def with_roof_types(data: dict[str, Any]) -> None:
    """A fifth question: 5 choices, so a list picker (more than 3 answers)."""
    data["questions"].insert(1, {"id": "roof_type", "ask": "What's on the roof now?", "type": "choice", "choices": [
        {"value": v, "label": label, "confirm": f"{label.lower()} roof"} for v, label in
        [("asphalt", "Asphalt shingles"), ("metal", "Metal"), ("tile", "Tile"), ("flat", "Flat"), ("wood", "Wood shakes")]]})
    data["locales"]["es"]["questions"]["roof_type"] = "¿Qué techo tiene ahora?"


def raw(twin: Twin, path: str) -> requests.Response:
    return requests.get(f"{twin.url}{path}", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)


def test_the_sandbox_creates_fetches_and_lists_content_as_twilio_does(twin):
    template = ContentTemplate(name="leadline_test_en", language="en", sample="Pick one", layout="quick_reply",
                               choices=(Choice("test:a", "A"), Choice("test:b", "B")))
    sid = create_content(twin.client, template)
    assert re.fullmatch(r"HX[0-9a-f]{32}", sid)
    answer = raw(twin, f"/v1/Content/{sid}").json()
    assert set(answer) == CONTENT_FIELDS
    assert answer["url"] == f"https://content.twilio.com/v1/Content/{sid}" and answer["account_sid"] == ACCOUNT_SID
    assert set(answer["links"]) == {"approval_create", "approval_fetch"}
    assert answer["types"] == {"twilio/text": {"body": "{{1}}"}, "twilio/quick-reply": {"body": "{{1}}", "actions": [
        {"type": "QUICK_REPLY", "title": "A", "id": "test:a"}, {"type": "QUICK_REPLY", "title": "B", "id": "test:b"}]}}
    fetched = twin.client.content.v1.contents(sid).fetch()
    assert (fetched.sid, fetched.friendly_name, fetched.language, fetched.variables) == \
        (sid, template.friendly_name, "en", {"1": "Pick one"})
    assert fetched.types == answer["types"] and fetched.date_created is not None
    other = create_content(twin.client, ContentTemplate(
        name="leadline_other_en", language="en", sample="Which?", layout="list_picker", picker_button="Choose",
        choices=tuple(Choice(f"other:{n}", f"Item {n}", f"the {n}th") for n in range(5))))
    # One per page: the client follows meta.next_page_url (content.twilio.com, rebased to the sandbox).
    assert [c.sid for c in twin.client.content.v1.contents.list(page_size=1)] == [sid, other]
    page = raw(twin, "/v1/Content?PageSize=1").json()
    assert set(page) == {"contents", "meta"} and page["meta"]["key"] == "contents"
    assert page["meta"]["next_page_url"] == "https://content.twilio.com/v1/Content?PageSize=1&Page=1"
    stranger = Client(ACCOUNT_SID, "wrong-token", http_client=RebasedHttpClient(twin.url, timeout=5))
    with pytest.raises(TwilioRestException) as exc:
        stranger.content.v1.contents(sid).fetch()
    assert (exc.value.status, exc.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as exc:
        twin.client.content.v1.contents("HX" + "0" * 32).fetch()
    assert exc.value.status == 404


def test_a_message_sent_with_a_content_sid_shows_the_filled_body_and_its_buttons(twin):
    sid = create_content(twin.client, ContentTemplate(
        name="leadline_q_en", language="en", sample="Sample", layout="quick_reply",
        choices=(Choice("q:yes", "Yes"), Choice("q:no", "No"))))
    to = "whatsapp:+17205550301"
    message = twin.client.messages.create(to=to, from_="whatsapp:+14155238886", content_sid=sid,
                                          content_variables=json.dumps({"1": "Sorry, I didn't get that. Own it?"}))
    assert message.body == "Sorry, I didn't get that. Own it?"
    shown = requests.get(f"{twin.url}/sandbox/messages", params={"To": to}, timeout=5).json()[-1]
    assert shown["content_sid"] == sid and shown["content_type"] == "twilio/quick-reply"
    assert shown["buttons"] == [{"id": "q:yes", "title": "Yes"}, {"id": "q:no", "title": "No"}]
    approved_elsewhere = twin.client.messages.create(to=to, from_="whatsapp:+14155238886", content_sid="HX" + "1" * 32,
                                                     content_variables=json.dumps({"1": "Ann"}))
    assert approved_elsewhere.body == f"[template HX{'1' * 32}]"  # a template the sandbox never made: as before
    with pytest.raises(TwilioRestException) as exc:
        twin.client.messages.create(to=to, from_="whatsapp:+14155238886", content_sid=sid, content_variables="{1: x")
    assert exc.value.code == 21656


def test_sync_makes_one_quick_reply_template_per_question_and_language_then_keeps_them(twin, tmp_path):
    playbook = load_playbook(playbook_file(tmp_path))
    first = sync(twin.sessions, twin.client, playbook)
    assert (first.created, first.kept) == (len(TAPPABLE) * 2, 0)  # English and Spanish
    with twin.sessions() as s:
        rows = content_templates.templates(s)
    assert {(r.question_id, r.language) for r in rows} == {(q, lang) for q in TAPPABLE for lang in (None, "es")}
    for row in rows:
        fetched = twin.client.content.v1.contents(row.content_sid).fetch()
        assert set(fetched.types) == {"twilio/text", TAPPABLE[row.question_id]}
        assert fetched.language == (row.language or "en") and fetched.friendly_name == row.friendly_name
    service = next(r for r in rows if (r.question_id, r.language) == ("service_type", "es"))
    actions = twin.client.content.v1.contents(service.content_sid).fetch().types["twilio/quick-reply"]["actions"]
    assert [(a["id"], a["title"]) for a in actions] == [("service_type:repair", "Gotera o reparación"),
                                                        ("service_type:replacement", "Techo nuevo"),
                                                        ("service_type:inspection", "Inspección")]
    again = sync(twin.sessions, twin.client, playbook)
    assert (again.created, again.kept) == (0, len(TAPPABLE) * 2)
    assert len(twin.app.extensions["sandbox"].contents) == len(TAPPABLE) * 2  # nothing made twice


def test_a_changed_question_gets_a_new_template_and_sends_use_it(twin, tmp_path):
    before = load_playbook(playbook_file(tmp_path))
    sync(twin.sessions, twin.client, before)

    def relabel(data: dict[str, Any]) -> None:
        data["questions"][0]["choices"][0]["label"] = "Leak or damage"

    after = load_playbook(playbook_file(tmp_path, relabel))
    report = sync(twin.sessions, twin.client, after)
    assert (report.created, report.kept) == (1, len(TAPPABLE) * 2 - 1)  # only service_type in English changed
    with twin.sessions() as s:
        old = content_sid_for(s, before, channel="whatsapp", question_id="service_type", language=None)
        new = content_sid_for(s, after, channel="whatsapp", question_id="service_type", language=None)
        spanish = content_sid_for(s, after, channel="whatsapp", question_id="service_type", language="es")
        assert None not in (old, new, spanish) and len({old, new, spanish}) == 3
        assert content_sid_for(s, after, channel="sms", question_id="service_type", language=None) is None
        assert content_sid_for(s, after, channel="whatsapp", question_id="postal_code", language=None) is None
    titles = [a["title"] for a in twin.client.content.v1.contents(new).fetch().types["twilio/quick-reply"]["actions"]]
    assert titles == ["Leak or damage", "Full replacement", "Inspection"]
    template = template_for(after, after.question("service_type"))
    assert template is not None and template.fingerprint != template_for(before, before.question("service_type")).fingerprint


def test_more_than_three_answers_make_a_list_picker_in_each_language(twin, tmp_path):
    playbook = load_playbook(playbook_file(tmp_path, with_roof_types))
    assert sync(twin.sessions, twin.client, playbook).created == (len(TAPPABLE) + 1) * 2
    with twin.sessions() as s:
        sids = {lang: content_sid_for(s, playbook, channel="whatsapp", question_id="roof_type", language=lang)
                for lang in (None, "es")}
    english = twin.client.content.v1.contents(sids[None]).fetch().types
    assert set(english) == {"twilio/text", "twilio/list-picker"}
    picker = english["twilio/list-picker"]
    assert (picker["body"], picker["button"]) == ("{{1}}", "Choose")
    assert picker["items"][0] == {"id": "roof_type:asphalt", "item": "Asphalt shingles",
                                  "description": "asphalt shingles roof"}
    assert [i["id"] for i in picker["items"]] == [f"roof_type:{v}" for v in ("asphalt", "metal", "tile", "flat", "wood")]
    spanish = twin.client.content.v1.contents(sids["es"]).fetch()
    assert spanish.types["twilio/list-picker"]["button"] == "Elegir"
    assert spanish.variables == {"1": "¿Qué techo tiene ahora?"}


def test_a_template_twilio_no_longer_has_is_made_again(twin, tmp_path):
    playbook = load_playbook(playbook_file(tmp_path))
    sync(twin.sessions, twin.client, playbook)
    with twin.sessions() as s:
        before = {r.definition_hash: r.content_sid for r in content_templates.templates(s)}
    twin.fresh_sandbox()  # a new `make run`: an empty sandbox, the same database
    report = sync(twin.sessions, twin.client, playbook)
    assert (report.created, report.replaced, report.kept) == (len(before), len(before), 0)
    with twin.sessions() as s:
        after = {r.definition_hash: r.content_sid for r in content_templates.templates(s)}
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    assert all(twin.client.content.v1.contents(sid).fetch().sid == sid for sid in after.values())


def cli_sync(twin: Twin, playbook: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``leadline content sync`` in a process of its own, with the settings a deployment would have."""
    settings = stack_settings(database_url=twin.database_url, redis_url="redis://unused", sandbox_url=twin.url,
                              web_port=9, playbook=playbook)
    return subprocess.run([sys.executable, "-c", "from app import cli; cli()", "content", "sync"],
                          env=settings_env(settings), cwd=tmp, capture_output=True, text=True, timeout=120)


def test_the_cli_syncs_and_a_refusal_exits_1_with_twilios_reason(twin, tmp_path):
    done = cli_sync(twin, playbook_file(tmp_path), tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "content templates: 6 created, 0 kept"), done.stderr
    assert cli_sync(twin, playbook_file(tmp_path), tmp_path).stdout.strip() == "content templates: 0 created, 6 kept"

    def long_title(data: dict[str, Any]) -> None:  # no label: the title is the value, 25 characters (WhatsApp: 20)
        data["questions"][1]["choices"][0] = {"value": "emergency_leak_right_away", "intent": 40}
        del data["locales"]["es"]["answers"]["urgency"]["now"]

    refused = cli_sync(twin, playbook_file(tmp_path, long_title), tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith("Twilio refused a content template: leadline_urgency_en_")
    assert "actions[0].title is required, at most 20 characters" in refused.stderr
