"""What the sandbox remembers between requests, and the SIDs it hands out."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SandboxState:
    """Everything the sandbox remembers; one lock guards it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    opted_out: set[tuple[str, str]] = field(default_factory=set)
    """(recipient E.164, our number it sent STOP to, or ``*``: every one of ours) pairs: Twilio blocks a number's
    SMS only from the sender it opted out of (or the whole Messaging Service, which ``*`` stands in for)."""
    whatsapp_last_inbound: dict[str, float] = field(default_factory=dict)
    clock_offset_s: float = 0.0
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per recipient: ``{"status", "code", "count", "latency_s"}`` injected into message creation."""
    rate_mps: float | None = None
    """Creates accepted per sender per rolling second; more are refused 429 / 20429 as Twilio does."""
    accepted: dict[str, list[float]] = field(default_factory=dict)
    refused: int = 0
    contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Content API templates by SID (``HX…``), in order of creation: ``friendly_name``, ``language``, ``variables``,
    ``types``, ``created`` (epoch seconds)."""

    def now(self) -> float:
        return time.time() + self.clock_offset_s


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)
