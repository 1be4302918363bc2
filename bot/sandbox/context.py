"""One sandbox's parts, as its request handlers reach them (``app.extensions``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bot.sandbox.callbacks import Callbacks
from bot.sandbox.state import SandboxState

EXTENSION = "sandbox.context"


@dataclass(frozen=True)
class SandboxContext:
    """The account the sandbox plays, what it remembers, and how it calls the app back."""

    account_sid: str
    auth_token: str
    """Accepted on the REST API (basic auth) and used to sign what the sandbox posts."""
    latency_s: float
    """Added to every message create, seconds (Twilio's API takes ~150 ms)."""
    state: SandboxState
    callbacks: Callbacks


def current() -> SandboxContext:
    """The context of the sandbox handling this request."""
    return current_app.extensions[EXTENSION]
