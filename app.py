"""The composition root: builds settings, database, Redis, queue and Twilio client, and registers blueprints.

``gunicorn app:app`` serves it; ``app`` is built on first access, not at import.
``leadline`` (this module's ``cli``) holds the operator commands.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError

from bot import webhook
from bot.logs import configure_logging
from jobs.process import build_runtime
from settings import Settings
from web import calendly, dashboard, leads, metrics, privacy, stats

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
    app.add_url_rule("/healthz", view_func=healthz)
    app.register_error_handler(DataError, unstorable)
    app.register_error_handler(DBAPIError, unavailable)
    app.register_error_handler(RedisError, unavailable)
    return app


def unavailable(exc: Exception) -> Any:
    """The database or Redis is down: a fast 503 (Twilio then tries the webhook's fallback URL and retries),
    logged; nothing half-done is kept, since the request's transaction never committed."""
    import logging

    from flask import request

    logging.getLogger("leadline.web").error("%s %s: %s unavailable: %s", request.method, request.path,
                                            "database" if isinstance(exc, DBAPIError) else "Redis",
                                            type(exc).__name__)
    answer = jsonify({"error": "temporarily unavailable; try again"})
    answer.headers["Retry-After"] = "5"
    return answer, 503


def unstorable(exc: DataError) -> Any:
    """A value the database refuses (Postgres: a NUL character, a number out of range) that no field check caught:
    the request is wrong, not the database, so 422, not a 503 that Twilio would retry forever; logged without the
    value. Nothing half-done is kept, since the request's transaction never committed."""
    import logging

    from flask import request

    logging.getLogger("leadline.web").warning("%s %s: a value the database refuses: %s", request.method, request.path,
                                              type(exc.orig).__name__)
    return jsonify({"error": "a value in the request cannot be stored"}), 422


def healthz() -> Any:
    """Database and Redis, each ``ok`` or ``down``; 503 when either is down."""
    from flask import current_app

    rt = current_app.extensions["leadline"]
    checks = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "down"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", **checks}), 200 if healthy else 503


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
    from settings import DatabaseSettings
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


@cli.command("check", help="Validate the settings and the playbook, as start-up does.")
def check() -> None:
    settings = Settings()
    playbook = _playbook_or_exit(settings)
    click.echo(f"{settings.playbook}: ok ({len(playbook.questions)} questions, {len(playbook.reps)} reps)")


@cli.command("export", help="Write the owner report, one row per lead: source, first_response_minutes, "
                            "estimated_value_usd, status, lost_reason, score, grade, owner.")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--since", help="Leads captured at or after this ISO 8601 date or time (UTC unless a zone is given).")
@click.option("--until", help="Leads captured before this ISO 8601 date or time.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="File to write; - for standard output.")
def export(fmt: str, since: str | None, until: str | None, output: Any) -> None:
    import csv

    from settings import DatabaseSettings
    from store.bounds import parse_instant
    from store.db import make_engine, make_sessionmaker
    from store.report import FIELDS, owner_report

    try:
        start, end = (parse_instant(v) if v else None for v in (since, until))
    except ValueError:
        raise click.BadParameter("expected ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00:00-07:00") from None
    engine = make_engine(DatabaseSettings().database_url)
    writer = csv.DictWriter(output, fieldnames=FIELDS)
    writer.writeheader()
    count = 0
    with make_sessionmaker(engine)() as session:
        for row in owner_report(session, since=start, until=end):
            writer.writerow(row)
            count += 1
    engine.dispose()
    click.echo(f"{count} leads exported", err=True)


@cli.command("erase", help="Erase everything held about a phone number (GDPR/CCPA erasure); a hashed "
                           "opt-out is kept so an opted-out number stays opted out.")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(phone: str, yes: bool) -> None:
    from bot.erasure import erase as erase_all
    from graph.playbook import to_e164

    try:
        number = to_e164(phone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None
    if not yes:
        click.confirm(f"Erase every record of {number}?", abort=True)
    rt = build_runtime(Settings())
    try:
        counts = erase_all(rt, number)
    finally:
        rt.close()
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


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
    from store.db import make_engine, make_sessionmaker

    settings = Settings()
    playbook = _playbook_or_exit(settings)
    engine = make_engine(settings.database_url)
    try:
        report = sync(make_sessionmaker(engine), make_client(settings), playbook)
    except ContentRefused as exc:
        click.echo(f"Twilio refused a content template: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    replaced = f" ({report.replaced} in place of ones Twilio no longer has)" if report.replaced else ""
    click.echo(f"content templates: {report.created} created{replaced}, {report.kept} kept")
