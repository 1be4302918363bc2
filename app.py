"""The composition root: builds settings, database, Redis, queue and Twilio client, and registers blueprints.

``gunicorn app:app`` serves it; ``app`` is built on first access, not at import.
``leadline`` (this module's ``cli``) holds the operator commands.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot import webhook
from bot.logs import configure_logging
from jobs.process import build_runtime
from runtime import Runtime
from runtime.businesses import calendly_signing_key
from settings import DatabaseSettings, Settings
from store.db import sessions_for
from web import calendly, dashboard, health, leads, metrics, privacy, stats
from web.accounts import active_business, remove_user, save_user

if TYPE_CHECKING:
    from graph.playbook import Playbook

MAX_CONTENT_LENGTH = 64 * 1024
"""Largest request body accepted, bytes (a Twilio webhook is a few KB)."""


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply for the parser is a parse error (``request.get_json``
    then answers None, or 400), not a ``RecursionError`` escaping as a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app.

    Raises:
        graph.playbook.PlaybookError: the playbook is missing or invalid.
        pydantic.ValidationError: a required setting is missing.
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.json = BoundedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.extensions["leadline"] = build_runtime(settings)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(leads.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(calendly.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(privacy.bp)
    dashboard.init_app(app)
    metrics.instrument(app)
    app.add_url_rule("/healthz", view_func=health.healthz)
    app.register_error_handler(DataError, health.unstorable)
    app.register_error_handler(DBAPIError, health.unavailable)
    app.register_error_handler(RedisError, health.unavailable)
    return app


def __getattr__(name: str) -> Any:
    """``app.app``: the WSGI app for gunicorn, built on first access (PEP 562)."""
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)


@click.group(help="Leadline operator commands.")
def cli() -> None:
    pass


@cli.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Create or migrate the tables (Leadline's and the checkpointer's).")
def db_upgrade() -> None:
    from store.migrate import upgrade

    upgrade(DatabaseSettings().database_url)
    click.echo("database is up to date")


def _playbook_or_exit(settings: Settings) -> Playbook:
    """The settings' playbook, or its error on stderr and exit status 2 (as start-up stops)."""
    from graph.playbook import PlaybookError, load_playbook

    try:
        return load_playbook(settings.playbook)
    except PlaybookError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@cli.command("check", help="Validate the settings and the playbook (or every file of BUSINESSES_DIR), as start-up does.")
def check() -> None:
    from runtime.declarations import read_declarations

    settings = Settings()
    if settings.businesses_dir is None:
        playbook = _playbook_or_exit(settings)
        return click.echo(f"{settings.playbook}: ok ({len(playbook.questions)} questions, {len(playbook.reps)} reps)")
    try:
        click.echo(f"{settings.businesses_dir}: ok ({len(read_declarations(settings.businesses_dir))} businesses)")
    except ValueError as exc:
        sys.exit(str(exc))


@cli.command("export", help="Write the owner report, one row per lead: source, first_response_minutes, "
                            "estimated_value_usd, status, lost_reason, score, grade, owner.")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--since", help="Leads captured at or after this ISO 8601 date or time (UTC unless a zone is given).")
@click.option("--until", help="Leads captured before this ISO 8601 date or time.")
@click.option("--business", "slug", default=None, help="Only this business (its slug); default: every business.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="File to write; - for standard output.")
def export(fmt: str, since: str | None, until: str | None, slug: str | None, output: Any) -> None:
    from settings import DatabaseSettings
    from store.bounds import parse_instant
    from store.report import write_csv

    try:
        start, end = (parse_instant(v) if v else None for v in (since, until))
    except ValueError:
        raise click.BadParameter("expected ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00:00-07:00") from None
    with sessions_for(DatabaseSettings().database_url) as sessions:
        business_id = _active_business(sessions, slug) if slug else None
        with sessions() as session:
            count = write_csv(session, output, business_id=business_id, since=start, until=end)
    click.echo(f"{count} leads exported", err=True)


@cli.command("erase", help="Erase everything held about a phone number (GDPR/CCPA erasure); a hashed "
                           "opt-out is kept so an opted-out number stays opted out.")
@click.argument("phone")
@click.option("--business", "slug", default=None, help="Only this business (its slug); default: every business.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(phone: str, slug: str | None, yes: bool) -> None:
    from bot.erasure import erase as erase_all
    from graph.playbook import to_e164

    try:
        number = to_e164(phone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None
    if not yes:
        click.confirm(f"Erase every record of {number} ({f'business {slug}' if slug else 'every business'})?",
                      abort=True)
    with _runtime() as rt:
        counts = erase_all(rt, number, business_id=_active_business(rt.sessions, slug) if slug else None)
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@cli.group(help="Businesses (the tenants) declared in BUSINESSES_DIR, one YAML file each; their tokens.")
def businesses() -> None:
    pass


@businesses.command("sync", help="Validate every file in BUSINESSES_DIR and sync them all in one transaction: "
                                 "senders, and a new playbook version when one changed (conversations in progress "
                                 "keep theirs). A business whose file is gone is retired; its data stays.")
@click.option("--if-configured", is_flag=True, help="Do nothing when BUSINESSES_DIR is not set (the release step).")
def businesses_sync(if_configured: bool) -> None:
    from runtime.declarations import sync_settings_directory

    settings = Settings()
    if if_configured and settings.businesses_dir is None:
        return
    try:
        report = sync_settings_directory(settings)
    except ValueError as exc:  # PlaybookError, SenderTaken, no BUSINESSES_DIR
        click.echo(str(exc), err=True)
        sys.exit(2)
    for label, slugs in vars(report).items():
        if slugs:
            click.echo(f"{label.replace('_', ' ')}: {', '.join(slugs)}")


@businesses.command("calendly", help="Print a business's Calendly webhook URL and signing key, for its subscription.")
@click.argument("slug")
def businesses_calendly(slug: str) -> None:
    with _runtime() as rt:
        business = rt.for_business(_active_business(rt.sessions, slug, "SLUG")).business
        click.echo(f"url: {rt.settings.public_base_url}/webhooks/calendly"
                   + ("" if rt.directory.single else f"/{slug}"))
        click.echo(f"signing_key: {calendly_signing_key(rt.settings, business) or '(none: set CALENDLY_SIGNING_KEY)'}")


@businesses.command("token", help="Issue a bearer token and print it (only its hash is kept): scope leads for "
                                  "POST /leads and /privacy/erase, stats for GET /stats.")
@click.option("--business", "slug", default=None, help="The business (its slug).")
@click.option("--agency", is_flag=True, help="The agency's: every business's totals (stats), erasure everywhere.")
@click.option("--scope", type=click.Choice(["leads", "stats"]), required=True)
def businesses_token(slug: str | None, agency: bool, scope: str) -> None:
    from store.tokens import issue

    if agency == (slug is not None):
        raise click.UsageError("give exactly one of --business SLUG and --agency")
    with _runtime() as rt:
        business_id = _active_business(rt.sessions, slug) if slug else None
        with rt.sessions.begin() as session:
            click.echo(issue(session, business_id=business_id, scope=scope))


@contextmanager
def _runtime() -> Iterator[Runtime]:
    rt = build_runtime(Settings())
    try:
        yield rt
    finally:
        rt.close()


def _active_business(sessions: sessionmaker[Session], slug: str, hint: str = "--business") -> int:
    if (business_id := active_business(sessions, slug=slug)) is None:
        raise click.BadParameter(f"no business {slug!r}", param_hint=hint)
    return business_id


@cli.group(help="Dashboard users: each belongs to one business, or is an agency admin (every business).")
def users() -> None:
    pass


@users.command("add", help="Add a dashboard user; the password is asked twice (hidden), or read from the first line "
                           "of standard input with --password-stdin. --update changes an existing user's instead.")
@click.argument("username")
@click.option("--business", "slug", default=None, help="The business they belong to (its slug; 'default' with one).")
@click.option("--agency", is_flag=True, help="An agency admin: every business, an overview and a switcher.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--update", is_flag=True, help="The user exists: give them this password and business.")
def users_add(username: str, slug: str | None, agency: bool, password_stdin: bool, update: bool) -> None:
    if agency == (slug is not None):
        raise click.UsageError("give exactly one of --business SLUG and --agency")
    with sessions_for(DatabaseSettings().database_url) as sessions:
        business_id = _active_business(sessions, slug) if slug else None  # before the password is asked
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else \
            click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            added = save_user(sessions, username=username, password=password, update=update, business_id=business_id)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(f"user {username.strip().lower()} {'added' if added else 'updated'}")


@users.command("remove", help="Remove a dashboard user; their sessions end at their next request.")
@click.argument("username")
def users_remove(username: str) -> None:
    with sessions_for(DatabaseSettings().database_url) as sessions:
        if not remove_user(sessions, username=username):
            raise click.BadParameter(f"no user {username!r}", param_hint="USERNAME")
    click.echo(f"user {username.strip().lower()} removed")


@cli.group(help="WhatsApp content templates: questions answered by tapping (Twilio's Content API).")
def content() -> None:
    pass


@content.command("sync", help="Create at Twilio a content template for every question prospects can answer by "
                              "tapping (quick-reply buttons, or a list picker past 3 answers), in every language "
                              "of the playbook, and keep their SIDs; templates already created are kept. Run it "
                              "again after changing a question.")
def content_sync() -> None:
    from bot.delivery.buttons import sync
    from bot.errors import ContentRefused
    from bot.twilio.client import make_client

    settings = Settings()
    playbook = _playbook_or_exit(settings)
    try:
        with sessions_for(settings.database_url) as sessions:
            report = sync(sessions, make_client(settings), playbook)
    except ContentRefused as exc:
        click.echo(f"Twilio refused a content template: {exc}", err=True)
        sys.exit(1)
    replaced = f" ({report.replaced} in place of ones Twilio no longer has)" if report.replaced else ""
    click.echo(f"content templates: {report.created} created{replaced}, {report.kept} kept")
