"""The sandbox: a Twilio-compatible Messages API on loopback for local runs and tests (see :mod:`bot.sandbox.app`)."""

from bot.sandbox.app import create_sandbox, main, new_sid, serve_in_thread

__all__ = ["create_sandbox", "main", "new_sid", "serve_in_thread"]
