"""One sandbox's parts, as its request handlers reach them (``app.extensions``), and the account's basic auth."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from flask import current_app, request

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


def authorized(ctx: SandboxContext, path_sid: str) -> bool:
    """The request's basic auth is the account's SID and token, and ``path_sid`` (the account the path names,
    or the account itself for APIs whose paths name none) is that account."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return secrets.compare_digest(user, ctx.account_sid) and secrets.compare_digest(password, ctx.auth_token) \
        and path_sid == ctx.account_sid
