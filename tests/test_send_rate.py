"""Send-rate discipline: a per-sender token bucket shared through Redis, and Twilio's 429 / 20429 answers."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from redis import Redis

from bot.twilio.rate import SendRate
from store.redis import connect
from tests.conftest import SMS_FROM, STATS_TOKEN, Prospect, Stack, fresh_database, make_playbook, wait_for
from tests.test_cadence import redis_db


def test_workers_share_one_bucket_per_sender(redis_url):
    redis = connect(redis_db(redis_url, 10), None)
    redis.flushdb()
    first, second = SendRate(redis, default_mps=5.0), SendRate(redis, default_mps=5.0, overrides={"+15550001111": 50.0})
    waits = [(first if n % 2 else second).reserve("+15005550006", max_wait_s=10) for n in range(10)]
    assert waits[0] == 0.0
    assert all(abs(w - n / 5.0) < 0.05 for n, w in enumerate(waits)), waits  # one slot every 0.2 s, whoever asks
    assert first.reserve("+15005550006", max_wait_s=1.0) > 1.0  # the next slot is 2 s away: not taken...
    assert abs(second.reserve("+15005550006", max_wait_s=10) - 2.0) < 0.05  # ...so it is still the next one
    assert second.reserve("+15550001111") == 0.0 and second.reserve("+15550001111") == pytest.approx(0.02, abs=0.01)
    assert SendRate(redis, default_mps=None).reserve("+15005550006") == 0.0  # no rate set: no limit


def sent_times(stack: Stack, sender: str) -> list[float]:
    rows = requests.get(f"{stack.sandbox.url}/sandbox/messages", timeout=10).json()
    return sorted(r["created"] for r in rows if r.get("from") == sender)


@pytest.fixture
def rate_stack(tmp_path, redis_url) -> Any:
    def make(**overrides: Any) -> Stack:
        url = redis_db(redis_url, 9)
        Redis.from_url(url).flushdb()
        stack = Stack(tmp_path, database_url=fresh_database(tmp_path, "_rate"), redis_url=url,
                      playbook=make_playbook(tmp_path), queue_name="rate-tests", **overrides)
        made.append(stack)
        return stack
    made: list[Stack] = []
    yield make
    for stack in made:
        stack.close()


def burst(stack: Stack, count: int) -> list[Prospect]:
    prospects = [Prospect(stack.sandbox, f"+1720555{7000 + n:04d}") for n in range(count)]
    for p in prospects:
        p.say("hello")
    return prospects


def test_a_burst_goes_out_at_the_senders_rate_without_twilio_refusing_any(rate_stack):
    stack = rate_stack(twilio_mps=4.0)
    requests.post(f"{stack.sandbox.url}/sandbox/rate", data={"Mps": "5"}, timeout=10).raise_for_status()
    prospects = burst(stack, 6)  # 12 replies from one number: 3 seconds at 4 per second

    def backlog() -> dict[str, Any]:
        answer = requests.get(f"{stack.url}/stats", headers={"Authorization": f"Bearer {STATS_TOKEN}"}, timeout=10)
        return answer.json()["send_backlog"]

    # The owner sees the sender's backlog while the burst is spread out, and it drains to nothing.
    seen = wait_for(lambda: (b := backlog()["senders"].get(SMS_FROM)) and b["held"] > 0 and b, timeout=10,
                    interval=0.02, what="a held backlog for the sender in /stats")
    assert 0 < seen["clears_in_s"] <= 3.5 and seen["waiting"] >= seen["held"]
    wait_for(lambda: backlog() == {"total": 0, "senders": {}}, timeout=30, what="the backlog to drain")
    for p in prospects:
        assert p.wait_for_replies(2, timeout=30)[0].startswith("Hi! Thanks")
    times = sent_times(stack, SMS_FROM)
    assert len(times) == 12
    assert times[-1] - times[0] >= 11 / 4.0 * 0.9, "spread over time at the configured rate"
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 5
    refused = requests.get(f"{stack.sandbox.url}/sandbox/rate", timeout=10).json()["refused"]
    assert refused == 0


def test_429_answers_are_retried_without_loss_or_duplication(rate_stack):
    stack = rate_stack()  # Leadline knows no rate here: Twilio (the sandbox) refuses above 2 per second
    requests.post(f"{stack.sandbox.url}/sandbox/rate", data={"Mps": "2"}, timeout=10).raise_for_status()
    prospects = burst(stack, 5)
    for p in prospects:
        bodies = p.wait_for_replies(2, timeout=60)
        assert bodies[0].startswith("Hi! Thanks") and bodies[1].startswith("What do you need?")
    assert requests.get(f"{stack.sandbox.url}/sandbox/rate", timeout=10).json()["refused"] > 0
    for p in prospects:
        p.assert_no_more(2, settle_s=0.2)  # each reply once: nothing lost, nothing twice
