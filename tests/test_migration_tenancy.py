"""Migration 0008 (issue 17): a one-business database, filled as the release before tenancy (revision 0007) fills
it, moves into the ``default`` business (id 1) with nothing lost; the new keys hold per business; a downgrade to
0007 and a second upgrade keep business 1's rows.

Real databases: SQLite always, and the Postgres ``DATABASE_URL`` names when the suite runs there. The rows are
written with SQLAlchemy Core on the reflected 0007 tables (the ORM models already have ``business_id``), the
conversation state through a real LangGraph checkpointer.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from langgraph.checkpoint.base import empty_checkpoint
from sqlalchemy import Connection, Engine, MetaData, Table, exc, inspect, text

import store.content_templates  # noqa: F401  (as in the migrations' env.py: every table joins Base.metadata)
import store.tenancy  # noqa: F401
from store.checkpoints import open_checkpointer
from store.db import make_engine
from store.migrate import alembic_config
from store.models import Base
from tests.conftest import fresh_database

PHONE = "+13035550100"
OWNED = ("leads", "messages", "activities", "capture_events", "touches", "llm_calls", "consent_records",
         "suppressions")
"""Every table whose rows belong to a business from 0008 on."""
KEPT = (*OWNED, "content_templates")
"""The tables whose rows must come through the migration unchanged (content templates belong to no business)."""
CHECKPOINT_TABLES = ("checkpoints", "writes", "checkpoint_blobs", "checkpoint_writes")
THREADS = {"sms": f"sms:{PHONE}", "whatsapp": f"whatsapp:{PHONE}"}
"""Today's checkpointer threads for the two leads: one per (channel, phone)."""
NEW_COLUMNS = {"business_id", "playbook_version_id"}
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DATABASE_URL", "").startswith("postgres") else [])


def sid(prefix: str, n: int) -> str:
    """A Twilio-shaped id (``SM`` + 32 hex digits)."""
    return f"{prefix}{n:032x}"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(params=BACKENDS)
def old_database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database at revision 0007, with the checkpointer's tables."""
    if request.param == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)
    return fresh_database(tmp_path, "_tenancy", revision="0007")


@pytest.fixture
def engine(old_database: str) -> Iterator[Engine]:
    engine = make_engine(old_database)
    yield engine
    engine.dispose()


def migrate(engine: Engine, url: str, revision: str, *, down: bool = False) -> None:
    """Alembic to ``revision``, with no connection of the test's open meanwhile."""
    engine.dispose()
    (command.downgrade if down else command.upgrade)(alembic_config(url), revision)


def tables(conn: Connection) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(conn)
    return dict(meta.tables)


def insert(conn: Connection, table: Table, **values: Any) -> int:
    """Insert one row; its primary key."""
    return conn.execute(table.insert().values(**values)).inserted_primary_key[0]


def populate(engine: Engine) -> None:
    """What a week of today's (0007) Leadline leaves: the same number as an SMS and a WhatsApp lead, their inbound
    and outbound messages, timeline, captures, touches, an LLM call, consent given and revoked, the opt-out it
    ended in, a content template."""
    with engine.begin() as conn:
        t = tables(conn)
        lead = {"phone": PHONE, "source": "inbound_sms", "answers": {"service": "replacement", "timeline": "asap"},
                "created_at": at(0), "updated_at": at(9), "current_queue": "bot", "last_activity_at": at(9),
                "business_address": "+15005550006", "timezone": "America/Denver"}
        sms = insert(conn, t["leads"], channel="sms", status="contacted", first_response_at=at(0), **lead)
        whatsapp = insert(conn, t["leads"], **{**lead, "channel": "whatsapp", "status": "qualified",
                                               "profile_name": "Ann", "score_total": 82, "grade": "A",
                                               "score_breakdown": {"fit": 40, "intent": 42}, "source": "web_form",
                                               "business_address": "whatsapp:+14155238886"})
        message = {"attempts": 0, "messaging_service_sid": None}
        hello = insert(conn, t["messages"], lead_id=sms, direction="inbound", kind="prospect", to_address="+15005550006",
                       from_address=PHONE, body="Hi, I need a roofer", twilio_sid=sid("SM", 1), status="received",
                       created_at=at(0), processed_at=at(0), **message)
        insert(conn, t["messages"], lead_id=sms, direction="outbound", kind="reply", to_address=PHONE,
               from_address="+15005550006", body="Thanks! What do you need done?", twilio_sid=sid("SM", 2),
               dedupe_key=f"reply:{hello}:0", outbox_state="sent", status="delivered", created_at=at(0),
               sent_at=at(0), status_at=at(1), **message)
        insert(conn, t["messages"], lead_id=None, direction="inbound", kind="prospect", to_address="+15005550006",
               from_address=PHONE, body="asap", twilio_sid=sid("SM", 3), status="received", created_at=at(9),
               **message)  # still in the inbox: its turn has not run
        tap = insert(conn, t["messages"], lead_id=whatsapp, direction="inbound", kind="prospect",
                     to_address="whatsapp:+14155238886", from_address=f"whatsapp:{PHONE}", body="Replacement",
                     tapped="service:replacement", sender_name="Ann", twilio_sid=sid("SM", 4), status="received",
                     media={"urls": ["https://api.twilio.com/m/1"], "types": ["image/jpeg"]}, created_at=at(2),
                     processed_at=at(2), **message)
        insert(conn, t["messages"], lead_id=whatsapp, direction="outbound", kind="rep_alert", to_address="+13035550143",
               from_address="+15005550006", body="HOT lead", dedupe_key=f"rep_alert:{whatsapp}:+13035550143:qualified",
               outbox_state="queued", send_after=at(60), created_at=at(3), **message)
        touch = insert(conn, t["touches"], lead_id=sms, step="nudge_1", attempt_number=1, due_at=at(30),
                       attempted_at=at(30), message_type="sms", result="sent", job_id="touches-1764601800-1",
                       enqueued_at=at(29), created_at=at(0))
        nudge = insert(conn, t["messages"], lead_id=sms, direction="outbound", kind="touch", to_address=PHONE,
                       from_address="+15005550006", body="Still need a roofer?", twilio_sid=sid("SM", 5),
                       dedupe_key=f"touch:{touch}", outbox_state="sent", status="sent", created_at=at(30),
                       sent_at=at(30), **message)
        conn.execute(t["touches"].update().where(t["touches"].c.id == touch).values(message_id=nudge))
        insert(conn, t["touches"], lead_id=sms, step="nudge_2", attempt_number=2, due_at=at(1440),
               next_attempt_at=at(1440), created_at=at(0))
        for lead_id, kind, data, minute in [(sms, "capture", {"source": "inbound_sms"}, 0),
                                            (sms, "message", {"message_id": hello}, 0),
                                            (whatsapp, "message", {"message_id": tap}, 2),
                                            (whatsapp, "status_change", {"from": "contacted", "to": "qualified"}, 3)]:
            insert(conn, t["activities"], lead_id=lead_id, kind=kind, data=data, created_at=at(minute))
        capture = {"received_at": at(0), "contact_method": "sms", "service_type": "roof_replacement"}
        insert(conn, t["capture_events"], event_id=sid("SM", 1), lead_id=sms, source="inbound_sms", channel="sms",
               **capture)
        insert(conn, t["capture_events"], event_id="form-7f3a", lead_id=whatsapp, source="web_form",
               channel="whatsapp", urgency="asap", **capture)
        insert(conn, t["capture_events"], event_id="form-7f3b", lead_id=whatsapp, source="web_form",
               channel="whatsapp", duplicate=True, **capture)
        insert(conn, t["llm_calls"], lead_id=sms, purpose="extract", model="gpt-4o-mini", outcome="ok", latency_ms=412,
               prompt_tokens=380, completion_tokens=22, created_at=at(9))
        insert(conn, t["consent_records"], phone=PHONE, lead_id=whatsapp, channel="whatsapp", event="granted",
               source="web_form", text="I agree to receive texts", created_at=at(2))
        insert(conn, t["consent_records"], phone=PHONE, lead_id=sms, channel="any", event="revoked", source="keyword",
               text="STOP", created_at=at(100))
        conn.execute(t["suppressions"].insert().values(phone_hash=hashlib.sha256(PHONE.encode()).hexdigest(),
                                                       keyword="STOP", created_at=at(100)))
        conn.execute(t["content_templates"].insert().values(definition_hash="ab" * 32, content_sid=sid("HX", 9),
                                                            friendly_name="leadline_service", question_id="service",
                                                            language="en", created_at=at(-60)))


def put_conversations(url: str, threads: dict[str, str] = THREADS) -> dict[str, dict[str, Any]]:
    """A checkpoint (and a pending write) on each thread, through the real saver; each thread's channel values."""
    values = {}
    with open_checkpointer(url) as saver:
        for channel, thread in threads.items():
            checkpoint = empty_checkpoint()
            channel_values = {"inbound": "asap", "turn": "in:3", "answers": {"service": "replacement", "channel": channel}}
            versions = {name: saver.get_next_version(None, None) for name in channel_values}
            checkpoint["channel_values"] = channel_values
            checkpoint["channel_versions"] = versions
            config = saver.put({"configurable": {"thread_id": thread, "checkpoint_ns": ""}}, checkpoint,
                               {"source": "loop", "step": 3}, versions)
            saver.put_writes(config, [("inbound", "and it leaks")], task_id="task-1")
            values[thread] = channel_values
    return values


def assert_conversations(url: str, values: dict[str, dict[str, Any]], *, prefix: str) -> None:
    """The saver loads each conversation by its thread id with ``prefix``, and nothing by the other form."""
    with open_checkpointer(url) as saver:
        for thread, channel_values in values.items():
            loaded = saver.get_tuple({"configurable": {"thread_id": prefix + thread, "checkpoint_ns": ""}})
            assert loaded is not None, prefix + thread
            assert loaded.checkpoint["channel_values"] == channel_values
            assert [(w[1], w[2]) for w in loaded.pending_writes or []] == [("inbound", "and it leaks")]
            other = thread if prefix else "b1:" + thread
            assert saver.get_tuple({"configurable": {"thread_id": other, "checkpoint_ns": ""}}) is None


def sort_key(row: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in row.items()))


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every kept row and checkpointer row, as the database returns it, without the columns 0008 adds and with the
    checkpointer's thread ids as today's (``sms:+1…``)."""
    with engine.connect() as conn:
        existing = set(inspect(conn).get_table_names())
        rows = {}
        for table in (*KEPT, *(t for t in CHECKPOINT_TABLES if t in existing)):
            found = []
            for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():
                row = {k: v for k, v in row.items() if k not in NEW_COLUMNS}
                if "thread_id" in row:
                    row["thread_id"] = row["thread_id"].removeprefix("b1:")
                found.append(row)
            rows[table] = sorted(found, key=sort_key)
    return rows


def schema(engine: Engine) -> dict[str, Any]:
    """The kept tables' shape: columns, keys, indexes and references (constraint names aside: 0001 left some unnamed,
    which Postgres names and SQLite does not)."""
    with engine.connect() as conn:
        found = inspect(conn)
        return {table: {
            "columns": [(c["name"], repr(c["type"]), c["nullable"], c["default"]) for c in found.get_columns(table)],
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(c["column_names"] for c in found.get_unique_constraints(table)),
            "indexes": sorted((i["name"], i["column_names"], bool(i["unique"])) for i in found.get_indexes(table)
                              if not i.get("duplicates_constraint")),  # a unique constraint's own: under "unique"
            "references": sorted((f["constrained_columns"], f["referred_table"], f["referred_columns"],
                                  f["options"].get("ondelete")) for f in found.get_foreign_keys(table)),
        } for table in KEPT}


def assert_threads(engine: Engine, prefix: str) -> None:
    """Every checkpointer table (SQLite's saver has two, Postgres's three) holds the two threads, named with
    ``prefix`` (``b1:`` from 0008 on)."""
    with engine.connect() as conn:
        existing = set(inspect(conn).get_table_names()) & set(CHECKPOINT_TABLES)
        assert len(existing) >= 2, existing
        for table in existing:
            found = set(conn.scalars(text(f"SELECT DISTINCT thread_id FROM {table}")))
            assert found == {prefix + thread for thread in THREADS.values()}, table


def assert_in_default_business(engine: Engine) -> None:
    """Every owned row is business 1's, business 1 is ``default``, and the schema is what the models declare."""
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, slug FROM businesses")).all() == [(1, "default")]
        for table in OWNED:
            assert set(conn.scalars(text(f"SELECT DISTINCT business_id FROM {table}"))) == {1}, table
        assert conn.execute(text("SELECT business_id, keyword FROM suppressions")).all() == [(1, "STOP")]
        assert set(conn.scalars(text("SELECT playbook_version_id FROM leads"))) == {None}
        assert schema_drift(conn) == []


def schema_drift(conn: Connection) -> list[Any]:
    """Alembic's comparison of the migrated schema with the models (what ``alembic check`` reports)."""
    checkpointer = set(CHECKPOINT_TABLES) | {"checkpoint_migrations"}
    context = MigrationContext.configure(conn, opts={
        "include_name": lambda name, kind, _parent: kind != "table" or name not in checkpointer})
    return compare_metadata(context, Base.metadata)


def refused(conn: Connection, statement: Any) -> bool:
    """Whether the database refuses ``statement`` as a duplicate key, not for another reason (in a savepoint, so
    the test carries on)."""
    try:
        with conn.begin_nested():
            conn.execute(statement)
    except exc.IntegrityError as error:
        assert "unique" in str(error.orig).lower(), error.orig  # SQLite: UNIQUE constraint failed; Postgres: duplicate key
        return True
    return False


def assert_keys_per_business(engine: Engine) -> None:
    """A second business can hold the same number, capture event and opt-out; business 1 still cannot hold them
    twice, and a MessageSid or outbox key is still stored once."""
    with engine.begin() as conn:
        t = tables(conn)
        second = insert(conn, t["businesses"], slug="second", name="Second Roofing", timezone="America/Denver",
                        active=True, created_at=at(200), updated_at=at(200))
        assert second == 2  # Postgres's sequence moved past the business 0008 inserted with id 1
        lead = {"phone": PHONE, "channel": "sms", "source": "inbound_sms", "status": "new", "answers": {},
                "created_at": at(200), "updated_at": at(200)}
        theirs = insert(conn, t["leads"], business_id=2, **lead)
        assert refused(conn, t["leads"].insert().values(business_id=1, **lead))
        event = {"event_id": sid("SM", 1), "source": "inbound_sms", "received_at": at(200), "channel": "sms",
                 "contact_method": "sms", "duplicate": False}
        insert(conn, t["capture_events"], business_id=2, lead_id=theirs, **event)
        sms_lead = conn.scalar(text("SELECT id FROM leads WHERE business_id = 1 AND channel = 'sms'"))
        assert refused(conn, t["capture_events"].insert().values(business_id=1, lead_id=sms_lead, **event))
        opt_out = {"phone_hash": hashlib.sha256(PHONE.encode()).hexdigest(), "created_at": at(200)}
        conn.execute(t["suppressions"].insert().values(business_id=2, **opt_out))
        assert refused(conn, t["suppressions"].insert().values(business_id=1, **opt_out))
        inbound = {"business_id": 1, "direction": "inbound", "kind": "prospect", "to_address": "+15005550006",
                   "attempts": 0, "created_at": at(200)}
        assert refused(conn, t["messages"].insert().values(twilio_sid=sid("SM", 1), **inbound))
        assert refused(conn, t["messages"].insert().values(dedupe_key="touch:1", **inbound))
        assert conn.scalar(text("SELECT count(*) FROM leads WHERE phone = :p AND channel = 'sms'"), {"p": PHONE}) == 2


def test_a_one_business_database_moves_into_the_default_business(old_database: str, engine: Engine) -> None:
    url = old_database
    populate(engine)
    values = put_conversations(url)
    before = snapshot(engine)
    assert all(before[table] for table in KEPT)
    shape = schema(engine)
    assert_threads(engine, "")

    migrate(engine, url, "head")
    assert snapshot(engine) == before  # nothing lost or changed, row for row
    assert_in_default_business(engine)
    assert_threads(engine, "b1:")
    assert_conversations(url, values, prefix="b1:")
    assert_keys_per_business(engine)

    with engine.begin() as conn:  # back to business 1's data alone: business 2 goes with its rows (cascade)
        conn.execute(text("DELETE FROM businesses WHERE id = 2"))
    assert snapshot(engine) == before
    put_conversations(url, {"sms": f"b2:sms:{PHONE}"})  # no cascade reaches the checkpointer: the downgrade drops it

    migrate(engine, url, "0007", down=True)
    assert snapshot(engine) == before
    assert schema(engine) == shape
    with engine.connect() as conn:
        assert "businesses" not in inspect(conn).get_table_names()
        assert "business_id" not in {c["name"] for c in inspect(conn).get_columns("leads")}
    assert_threads(engine, "")
    assert_conversations(url, values, prefix="")

    migrate(engine, url, "head")
    assert snapshot(engine) == before
    assert_in_default_business(engine)
    assert_conversations(url, values, prefix="b1:")
    assert_keys_per_business(engine)
