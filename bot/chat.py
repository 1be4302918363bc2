"""Chat with the bot as a prospect from a terminal, through the sandbox.

Each line you type goes to the sandbox, which delivers it to the webhook as a signed
Twilio request; the bot's replies (and any rep alert) are read back from the sandbox
with the real twilio client and printed.

On WhatsApp a question sent with buttons (a content template) prints its text, then its buttons as numbered
lines; typing just one of those numbers taps that button, as the phone would (``ButtonPayload``, or ``ListId`` for
a list item, with its title as the text). The buttons come from the sandbox's own record of the message
(``/sandbox/messages``): Twilio's Message resource does not carry them.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests
from twilio.rest import Client

FIRST_REPLY_WAIT_S = 10.0
QUIET_S = 1.0
LIST_PICKER = "twilio/list-picker"


@dataclass(frozen=True)
class Shown:
    """A message the bot sent: to whom, its text, and the buttons it offers (``[{"id", "title"}]``) with their
    content type (``twilio/quick-reply`` or ``twilio/list-picker``)."""

    to: str
    body: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    content_type: str | None = None


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
        self.offered: Shown | None = None
        """The bot's latest message to the prospect, when it offers buttons: a number typed now taps one."""

    def fresh(self) -> list[Shown]:
        """Outbound messages not yet seen, oldest first."""
        with self.lock:
            new = [m for m in reversed(self.client.messages.list(limit=1000))
                   if m.sid not in self.seen and m.direction != "inbound"]
            self.seen.update(m.sid for m in new)
            details = self._details() if any(m.to == self.prospect for m in new) else {}
            shown = [Shown(m.to, m.body, (details.get(m.sid) or {}).get("buttons") or [],
                           (details.get(m.sid) or {}).get("content_type")) for m in new]
            for message in shown:
                if message.to == self.prospect:
                    self.offered = message if message.buttons else None
        return shown

    def _details(self) -> dict[str, dict[str, Any]]:
        """The sandbox's record of each message to the prospect, by SID (buttons and content type)."""
        rows = requests.get(f"{self.sandbox_url}/sandbox/messages", params={"To": self.prospect}, timeout=10).json()
        return {row["sid"]: row for row in rows}

    def say(self, text: str) -> list[Shown]:
        """Send ``text`` as the prospect (a number naming an offered button taps it); returns the new outbound
        messages, oldest first."""
        self.talking.set()
        try:
            return self._say(text)
        finally:
            self.talking.clear()

    def _say(self, text: str) -> list[Shown]:
        form = {"From": self.prospect, "To": self.business, "Body": text, **tap_fields(text, self.offered)}
        if self.profile_name:
            form["ProfileName"] = self.profile_name
        requests.post(f"{self.sandbox_url}/sandbox/inbound", data=form, timeout=20).raise_for_status()
        replies: list[Shown] = []
        deadline, last_new = time.monotonic() + FIRST_REPLY_WAIT_S, None
        while time.monotonic() < deadline and (last_new is None or time.monotonic() - last_new < QUIET_S):
            new = self.fresh()
            if new:
                replies += new
                last_new = time.monotonic()
            time.sleep(0.15)
        return replies


def tap_fields(text: str, offered: Shown | None) -> dict[str, str]:
    """The ``/sandbox/inbound`` fields that make the line ``text`` a tap: when it is just the number of a button the
    bot's latest message ``offered`` (1 for the first), that button's id and title (``ButtonPayload``/``ButtonText``,
    or ``ListId``/``ListTitle`` for a list item) with the title as the ``Body``; else none (typed text)."""
    if offered is None or not text.isdecimal() or not 1 <= int(text) <= len(offered.buttons):
        return {}
    button = offered.buttons[int(text) - 1]
    if offered.content_type == LIST_PICKER:
        return {"Body": button["title"], "ListId": button["id"], "ListTitle": button["title"]}
    return {"Body": button["title"], "ButtonPayload": button["id"], "ButtonText": button["title"]}


def show(session: ChatSession, messages: list[Shown], out: TextIO) -> None:
    """Print each message: ``bot> text`` (then its buttons, ``  1. Leak or repair``…), or a rep alert."""
    for message in messages:
        label = "bot" if message.to == session.prospect else f"rep alert to {message.to}"
        lines = [f"{label}> {message.body}", *(f"  {n}. {b['title']}" for n, b in enumerate(message.buttons, 1))]
        print("\n".join(lines), file=out, flush=True)


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
