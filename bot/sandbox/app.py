"""The sandbox as a Flask app: its parts composed, its routes registered."""

from __future__ import annotations

from flask import Flask

from bot.sandbox import content, controls, messages, phone
from bot.sandbox.callbacks import Callbacks
from bot.sandbox.context import EXTENSION, SandboxContext
from bot.sandbox.state import SandboxState


def create_sandbox(*, account_sid: str, auth_token: str, webhook_url: str | None = None,
                   latency_s: float = 0.0) -> Flask:
    """The sandbox as a Flask app.

    Args:
        account_sid / auth_token: the credentials it accepts (basic auth) and signs with.
        webhook_url: where ``/sandbox/inbound`` delivers prospect messages (the app's
            ``/twilio/messages``).
        latency_s: delay added to every create call, seconds (Twilio's API takes ~150 ms).
    """
    app = Flask("leadline-sandbox")
    state = SandboxState()
    callbacks = Callbacks(account_sid=account_sid, auth_token=auth_token, state=state)
    app.extensions["sandbox"] = state
    app.extensions[EXTENSION] = SandboxContext(account_sid=account_sid, auth_token=auth_token, latency_s=latency_s,
                                               state=state, callbacks=callbacks)
    app.config["WEBHOOK_URL"] = webhook_url
    app.register_blueprint(messages.bp)
    app.register_blueprint(content.bp)
    app.register_blueprint(phone.bp)
    app.register_blueprint(controls.bp)
    return app
