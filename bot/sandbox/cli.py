"""``python -m bot.sandbox``: serve the sandbox in the foreground until interrupted (benchmarks run it so)."""

from __future__ import annotations

import argparse

from bot.sandbox.app import create_sandbox
from bot.sandbox.server import make_threaded_server


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and serve the sandbox on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox",
                                     description="Twilio-compatible Messages API on loopback.")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    app = create_sandbox(account_sid=args.account_sid, auth_token=args.auth_token, webhook_url=args.webhook_url,
                         latency_s=args.latency_ms / 1000)
    make_threaded_server(app, "127.0.0.1", args.port).serve_forever()
