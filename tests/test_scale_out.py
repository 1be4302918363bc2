"""Scale-out: two gunicorn processes (the Procfile's web line) and two worker processes against one
Postgres and one Redis, as a business that outgrows one machine runs Leadline.

Conversations and cadences go through any web process and any worker, each message once and in
order; exactly one worker schedules at a time, and killing the one that does (its whole process
group, as a machine dies) hands scheduling to the other within 90 s.

Runs where ``DATABASE_URL`` names a Postgres: processes on several machines share a database
server, never a SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Worker
from rq.scheduler import RQScheduler

from bench.common import procfile
from bot.sandbox import create_sandbox, serve_in_thread
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    REP_PHONE,
    Prospect,
    free_port,
    fresh_database,
    make_playbook,
    messages_to,
    qualify,
    settings_env,
    stack_settings,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.test_cadence import EXAMPLE_STEPS, daytime_number, redis_db

SECONDS_PER_DAY = 2.0
STEPS = [("day1", 1), ("day3", 2)]
QUEUE = "scale-tests"
TOUCH_FRAGMENTS = [next(s.text for s in EXAMPLE_STEPS if s.id == step).split("{name}")[-1][2:26].lower()
                   for step, _ in STEPS]
"""A piece of each step's text free of placeholders: how a follow-up touch is told from the conversation."""


class ScaledStack:
    """The sandbox, gunicorn with two web processes, and two workers."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str):
        port = free_port()
        self.sandbox = create_sandbox(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                      webhook_url=f"http://127.0.0.1:{port}/twilio/messages")
        self._sandbox_server, self.sandbox.url = serve_in_thread(self.sandbox)
        steps = [{"id": step, "after": f"{days}d", "text": next(s.text for s in EXAMPLE_STEPS if s.id == step)}
                 for step, days in STEPS]
        self.settings = stack_settings(database_url=database_url, redis_url=redis_url, sandbox_url=self.sandbox.url,
                                       web_port=port, playbook=make_playbook(tmp, steps=steps), queue_name=QUEUE,
                                       cadence_seconds_per_day=SECONDS_PER_DAY)
        self.redis = Redis.from_url(redis_url)
        env = settings_env(self.settings) | {"PORT": str(port), "WEB_CONCURRENCY": "2",
                                             "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.web_log = tmp / "web.log"
        with self.web_log.open("ab") as log:
            self.web = subprocess.Popen(["sh", "-c", f"exec {procfile()['web']}"], env=env, cwd=tmp, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        import requests

        wait_for(lambda: self._healthy(requests, port), timeout=60, what="gunicorn")
        self.logs = [tmp / "worker-a.log", tmp / "worker-b.log"]
        self.workers = [start_worker(self.settings, log) for log in self.logs]
        wait_for(lambda: len({w.pid for w in Worker.all(connection=self.redis) if QUEUE in w.queue_names()}) == 2,
                 timeout=60, what="both workers")

    @staticmethod
    def _healthy(requests: Any, port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def jobs_done_by_process(self) -> Counter:
        """Successful jobs per worker process id (each process runs several RQ workers, one per job thread)."""
        done: Counter = Counter()
        for w in Worker.all(connection=self.redis):
            if QUEUE in w.queue_names():
                done[w.pid] += w.successful_job_count
        return done

    def scheduling_pid(self) -> int | None:
        """The process whose scheduler holds the queue's lock, from RQ's scheduler records."""
        holder = self.redis.get(RQScheduler.get_locking_key(QUEUE))
        if holder is None:
            return None
        record = self.redis.hget(f"rq:scheduler:{holder.decode()}", "pid")
        return int(record) if record else None

    def close(self) -> None:
        for proc in self.workers:
            stop_worker(proc)
        self.web.terminate()
        self.web.wait(timeout=30)
        self._sandbox_server.shutdown()


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, redis_url) -> Any:
    tmp = tmp_path_factory.mktemp("scale")
    database_url = fresh_database(tmp, "_scale")
    if database_url.startswith("sqlite"):
        pytest.skip("scale-out runs against one Postgres (set DATABASE_URL); machines never share a SQLite file")
    url = redis_db(redis_url, 7)
    Redis.from_url(url).flushdb()
    stack = ScaledStack(tmp, database_url, url)
    yield stack
    stack.close()


def test_conversations_through_two_web_processes_and_two_workers_are_each_answered_once_in_order(scaled):
    prospects = [Prospect(scaled.sandbox, f"+1720555{8000 + i:04d}") for i in range(12)]
    errors: list[BaseException] = []

    def run(p: Prospect) -> None:
        try:
            qualify(p)  # greeting, four questions, the booking link, and the rep's HOT alert, each waited for
        except BaseException as exc:  # pytest.fail raises an exception the thread must hand back
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in prospects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    for p in prospects:
        bodies = [m["body"] for m in p.received()]
        assert len(set(bodies)) == len(bodies), bodies  # nothing twice
        # Under load a conversation can outlast its 2-second "days": the cadence's touches may come between
        # the answers. Without them, the conversation is whole and in order.
        talk = [b for b in bodies if not any(fragment in b.lower() for fragment in TOUCH_FRAGMENTS)]
        assert len(talk) == 6 and len(bodies) <= 6 + len(STEPS), "\n".join(bodies)
        assert talk[0].startswith("Hi! Thanks") and talk[1].startswith("What do you need?")
        assert talk[2].startswith("How soon do you need it?") and "calendly.com" in talk[5]
        alerts = [m for m in messages_to(scaled.sandbox, REP_PHONE) if p.number in m["body"]]
        assert len(alerts) == 1, [m["body"] for m in alerts]
    done = scaled.jobs_done_by_process()
    assert len(done) == 2 and all(count > 0 for count in done.values()), f"both workers took jobs: {done}"


def test_touches_go_once_and_scheduling_moves_to_the_other_worker_when_its_machine_dies(scaled):
    p = Prospect(scaled.sandbox, daytime_number())
    p.say("hi, need a roofer")
    bodies = p.wait_for_replies(2 + len(STEPS), timeout=40)  # the greeting and question, then day1 and day3
    assert len(bodies) == 4 and bodies[0].startswith("Hi! Thanks")
    p.assert_no_more(4, settle_s=2.0)  # two schedulers running, each touch once

    holder = wait_for(scaled.scheduling_pid, what="a scheduler holding the lock")
    dying = next(proc for proc in scaled.workers if proc.pid == holder)
    os.killpg(dying.pid, signal.SIGKILL)  # the fault: the machine scheduling the queue is gone
    dying.wait()
    killed_at = time.monotonic()
    q = Prospect(scaled.sandbox, daytime_number())
    q.say("hi, need a roofer")  # answered by the surviving worker at once (a queued job, not a scheduled one)
    q.wait_for_replies(2, timeout=20)
    # day1 is an enqueue_at job: it reaches the queue only once a scheduler runs again.
    bodies = q.wait_for_replies(4, timeout=90)
    handover_s = time.monotonic() - killed_at
    assert handover_s <= 90, f"scheduling moved after {handover_s:.0f} s"
    survivor = next(proc for proc in scaled.workers if proc.pid != holder)
    assert scaled.scheduling_pid() == survivor.pid
    q.assert_no_more(4, settle_s=1.0)
    print(f"scheduler handover: day1 and day3 sent {handover_s:.1f} s after the scheduling worker was killed")
