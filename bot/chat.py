"""Chat with the bot as a prospect from a terminal, through the sandbox.

Each line you type goes to the sandbox, which delivers it to the webhook as a signed
Twilio request; the bot's replies (and any rep alert) are read back from the sandbox
with the real twilio client and printed.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

import requests
from twilio.rest import Client

FIRST_REPLY_WAIT_S = 10.0
QUIET_S = 1.0


class ChatSession:
    """One prospect talking to the bot via the sandbox at ``sandbox_url``."""

    def __init__(self, client: Client, sandbox_url: str, *, prospect: str, business: str,
                 profile_name: str | None = None):
        self.client = client
        self.sandbox_url = sandbox_url
        self.prospect = prospect
        self.business = business
        self.profile_name = profile_name
        self.seen = {m.sid for m in client.messages.list(limit=1000)}
        self.lock = threading.Lock()
        self.talking = threading.Event()
        """Set while :meth:`say` waits for its replies; the background watcher stays out of the way."""

    def fresh(self) -> list[tuple[str, str]]:
        """Outbound messages not yet seen, oldest first, as (to, body)."""
        with self.lock:
            new = [m for m in reversed(self.client.messages.list(limit=1000))
                   if m.sid not in self.seen and m.direction != "inbound"]
            self.seen.update(m.sid for m in new)
        return [(m.to, m.body) for m in new]

    def say(self, text: str) -> list[tuple[str, str]]:
        """Send ``text`` as the prospect; returns the new outbound messages as (to, body), oldest first."""
        self.talking.set()
        try:
            return self._say(text)
        finally:
            self.talking.clear()

    def _say(self, text: str) -> list[tuple[str, str]]:
        form = {"From": self.prospect, "To": self.business, "Body": text}
        if self.profile_name:
            form["ProfileName"] = self.profile_name
        requests.post(f"{self.sandbox_url}/sandbox/inbound", data=form, timeout=20).raise_for_status()
        replies: list[tuple[str, str]] = []
        deadline, last_new = time.monotonic() + FIRST_REPLY_WAIT_S, None
        while time.monotonic() < deadline and (last_new is None or time.monotonic() - last_new < QUIET_S):
            new = self.fresh()
            if new:
                replies += new
                last_new = time.monotonic()
            time.sleep(0.15)
        return replies


def show(session: ChatSession, messages: list[tuple[str, str]], out: TextIO) -> None:
    for to, body in messages:
        label = "bot" if to == session.prospect else f"rep alert to {to}"
        print(f"{label}> {body}", file=out, flush=True)


def run(session: ChatSession, stream: TextIO = sys.stdin, out: TextIO = sys.stdout, linger_s: float = 0.0) -> None:
    """Read lines from ``stream`` until EOF, printing the bot's answers to ``out``.

    Messages the bot sends unprompted (follow-up touches, held rep alerts) are printed as
    they arrive; after EOF the session keeps watching for ``linger_s`` seconds.
    """
    interactive = stream.isatty()
    print(f"Chatting as {session.prospect} with {session.business}. Type a message; Ctrl-D to quit.", file=out)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            if not session.talking.is_set():
                show(session, session.fresh(), out)

    threading.Thread(target=watch, daemon=True).start()
    try:
        _converse(session, stream, out, interactive)
        deadline = time.monotonic() + linger_s
        while time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()


def _converse(session: ChatSession, stream: TextIO, out: TextIO, interactive: bool) -> None:
    while True:
        if interactive:
            print("you> ", end="", file=out, flush=True)
        line = stream.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if not interactive:
            print(f"you> {text}", file=out)
        replies = session.say(text)
        show(session, replies, out)
        if not replies:
            print("(no reply)", file=out, flush=True)
