"""The conversation graph on its own: no Flask, no Twilio, a real SQLite checkpointer."""

from __future__ import annotations

import sqlite3

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.builder import build_graph
from graph.playbook import load_playbook
from tests.conftest import ROOT

PB = load_playbook(ROOT / "playbook.yaml")


def test_full_conversation_to_a_hot_qualification(talk):
    assert talk("hello")["replies"][0] == ("Hi Ann! Thanks for reaching out to Summit Roofing. 4 quick questions "
                                           "so we can get you an accurate estimate.")
    assert talk("1")["replies"] == ["How soon do you need it? 1 = right away, 2 = within a month, 3 = just planning."]
    assert talk("emergency")["replies"] == ["What's the ZIP code of the property?"]
    assert talk("80301")["replies"] == ["Are you the property owner? (yes/no)"]
    done = talk("yes")
    assert done["outcome"] == "qualified" and done["phase"] == "done"
    assert "utm_content=lead-7" in done["replies"][0] and "name=Ann" in done["replies"][0]
    assert done["rep_alert"].startswith("HOT lead (A, 85/100): Ann, +17205550100")
    after = talk("thanks!")
    assert after["rep_alert"] is None and after["replies"][0].startswith("Your booking link again, Ann: ")


def test_low_score_gets_nurture_and_no_rep_alert(talk):
    for text in ("hi", "3", "someday", "80203"):
        talk(text)
    done = talk("no")
    assert done["outcome"] == "nurture" and done["rep_alert"] is None
    assert done["replies"] == ["Thanks Ann! We'll keep in touch. Meanwhile, here's our guide to roof costs: "
                               "https://summitroofing.example/guide"]


def test_reask_twice_then_unknown_then_next_question(talk):
    talk("hi")
    first = talk("purple")
    assert first["attempts"] == 1 and first["replies"][0].startswith("Sorry, I didn't catch that.")
    assert talk("orange")["attempts"] == 2
    moved_on = talk("green")
    assert moved_on["answers"] == {"service_type": None}
    assert moved_on["replies"] == ["How soon do you need it? 1 = right away, 2 = within a month, 3 = just planning."]


def test_out_of_area_ends_early_with_the_deflection(talk):
    for text in ("hi", "2", "now"):
        talk(text)
    done = talk("10001")
    assert done["outcome"] == "disqualified" and done["disqualified"]
    assert done["replies"] == ["Thanks Ann. Sorry, we don't serve 10001 yet. This guide may still help: "
                               "https://summitroofing.example/guide"]
    assert "is_owner" not in done["answers"]


def test_threads_are_separate_per_channel_and_phone(talk):
    talk("hi", thread="sms:+17205550101")
    talk("2", thread="sms:+17205550101")
    other = talk("hi", thread="whatsapp:+17205550101")
    assert other["question_index"] == 0 and other["answers"] == {}


def test_state_survives_a_new_graph_on_the_same_checkpointer(talk, tmp_path):
    talk("hi", thread="sms:+17205550102")
    talk("2", thread="sms:+17205550102")
    conn = sqlite3.connect(tmp_path / "checkpoints.db", check_same_thread=False)
    fresh = build_graph(SqliteSaver(conn))
    state = fresh.get_state({"configurable": {"thread_id": "sms:+17205550102"}}).values
    assert state["answers"] == {"service_type": "replacement"} and state["question_index"] == 1
    conn.close()


def test_a_long_conversation_keeps_one_checkpoint_and_still_resumes(prospect, settings):
    """LangGraph writes a checkpoint per turn; keeping only the latest is all resuming needs (issue 6, M7)."""
    import psycopg

    from store.checkpoints import libpq_url, open_checkpointer

    p = prospect()
    for n, body in enumerate(["hi", "2", "whenever", "asap", "80203", "yes", "thanks", "ok"]):
        p.say(body)
        p.wait_for_replies(n + 2)  # greeting and question, then one reply per message (a re-ask for "whenever")
    with open_checkpointer(settings.database_url) as saver:
        saved = list(saver.list({"configurable": {"thread_id": f"b1:sms:{p.number}"}}))
    assert len(saved) == 1
    if settings.database_url.startswith("postgresql"):  # and no channel value only older checkpoints referenced
        with psycopg.connect(libpq_url(settings.database_url)) as conn:
            blobs = conn.execute("SELECT channel, version FROM checkpoint_blobs WHERE thread_id = %s",
                                 (f"b1:sms:{p.number}",)).fetchall()
        versions = saved[0].checkpoint["channel_versions"]
        assert blobs and all(versions.get(channel) == version for channel, version in blobs), blobs
    assert saved[0].checkpoint["channel_values"]["answers"] == {"service_type": "replacement", "urgency": "now",
                                                                "postal_code": "80203", "is_owner": True}
    assert p.received()[-1]["body"].startswith("Your booking link again")
