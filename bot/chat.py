"""Chat with the bot as a prospect from a terminal, through the sandbox.

Each line you type goes to the sandbox, which delivers it to the webhook as a signed
Twilio request; the bot's replies (and any rep alert) are read back from the sandbox
with the real twilio client and printed.
"""

from __future__ import annotations

import sys
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

    def say(self, text: str) -> list[tuple[str, str]]:
        """Send ``text`` as the prospect; returns the new outbound messages as (to, body), oldest first."""
        form = {"From": self.prospect, "To": self.business, "Body": text}
        if self.profile_name:
            form["ProfileName"] = self.profile_name
        requests.post(f"{self.sandbox_url}/sandbox/inbound", data=form, timeout=20).raise_for_status()
        replies: list[tuple[str, str]] = []
        deadline, last_new = time.monotonic() + FIRST_REPLY_WAIT_S, None
        while time.monotonic() < deadline and (last_new is None or time.monotonic() - last_new < QUIET_S):
            fresh = [m for m in reversed(self.client.messages.list(limit=1000))
                     if m.sid not in self.seen and m.direction != "inbound"]
            for m in fresh:
                self.seen.add(m.sid)
                replies.append((m.to, m.body))
                last_new = time.monotonic()
            time.sleep(0.15)
        return replies


def run(session: ChatSession, stream: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """Read lines from ``stream`` until EOF, printing the bot's answers to ``out``."""
    interactive = stream.isatty()
    print(f"Chatting as {session.prospect} with {session.business}. Type a message; Ctrl-D to quit.", file=out)
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
        for to, body in replies:
            label = "bot" if to == session.prospect else f"rep alert to {to}"
            print(f"{label}> {body}", file=out, flush=True)
        if not replies:
            print("(no reply)", file=out, flush=True)
