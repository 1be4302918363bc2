"""Businesses as an agency declares them: one YAML file each in ``BUSINESSES_DIR`` (a playbook whose ``business``
section names its senders), read and validated all together, then synced into the database
(``leadline businesses sync``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from graph.playbook import PlaybookError, read_playbook
from settings import Settings
from store import businesses as store
from store.businesses import Declaration
from store.db import make_engine, make_sessionmaker

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
"""A business file's name without ``.yaml``: lower-case letters, digits and dashes (it appears in URLs)."""


@dataclass
class SyncReport:
    """What a sync did, by slug."""

    created: list[str] = field(default_factory=list)
    new_version: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def read_declarations(directory: Path) -> list[Declaration]:
    """Every ``*.yaml``/``*.yml`` file in ``directory``, validated as a playbook, as a :class:`Declaration`.

    Raises:
        PlaybookError: the directory is missing or empty, a file name is not a slug, a file is not a valid
            playbook (the same messages as ``PLAYBOOK``'s, naming file, field and reason), or two files declare
            the same sender. Every problem of every file is reported at once.
    """
    if not directory.is_dir():
        raise PlaybookError(f"{directory}: BUSINESSES_DIR is not a directory")
    paths = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise PlaybookError(f"{directory}: no business files (*.yaml)")
    problems: list[str] = []
    declarations: list[Declaration] = []
    owner_of: dict[str, str] = {}
    for path in paths:
        if not SLUG.fullmatch(path.stem):
            problems.append(f"{path}: the file name must be a slug (a-z, 0-9, -), it names the business in URLs")
            continue
        try:
            playbook, document = read_playbook(path)
        except PlaybookError as exc:
            problems.append(str(exc))
            continue
        senders = playbook.business.senders
        addresses = [*senders.sms, *(f"whatsapp:{n}" for n in senders.whatsapp),
                     *([senders.messaging_service_sid] if senders.messaging_service_sid else [])]
        for address in addresses:
            if address in owner_of:
                problems.append(f"{path}: business.senders: {address} is also declared by {owner_of[address]}.yaml")
            owner_of.setdefault(address, path.stem)
        declarations.append(Declaration(
            slug=path.stem, document=document, name=playbook.business.name, timezone=playbook.business.timezone,
            senders=addresses, sms_from=senders.sms[0] if senders.sms else None,
            whatsapp_from=f"whatsapp:{senders.whatsapp[0]}" if senders.whatsapp else None,
            messaging_service_sid=senders.messaging_service_sid,
            calendly_key_env=playbook.business.calendly_signing_key_env))
    if problems:
        raise PlaybookError("invalid businesses\n" + "\n".join(problems))
    return declarations


def sync_settings_directory(settings: Settings) -> SyncReport:
    """:func:`sync_directory` of ``BUSINESSES_DIR`` on ``DATABASE_URL`` (``leadline businesses sync``).

    Raises:
        ValueError: ``BUSINESSES_DIR`` is not set, or as :func:`sync_directory`.
    """
    if settings.businesses_dir is None:
        raise ValueError("BUSINESSES_DIR is not set: a one-business deployment reads PLAYBOOK at start")
    engine = make_engine(settings.database_url)
    try:
        return sync_directory(make_sessionmaker(engine), settings.businesses_dir)
    finally:
        engine.dispose()


def sync_directory(sessions: sessionmaker[Session], directory: Path, *, retire: bool = True) -> SyncReport:
    """Sync every business in ``directory`` in one transaction: all or nothing.

    A business whose file is gone is retired (``retire``): its numbers stop routing to it, its data stays.

    Raises:
        PlaybookError: as :func:`read_declarations`.
        store.businesses.SenderTaken: a sender belongs to a business that is not being synced.
    """
    declarations = read_declarations(directory)
    report = SyncReport()
    with sessions.begin() as session:
        if retire:
            report.retired = store.retire_others(session, keep=[d.slug for d in declarations])
        store.release_senders(session, slugs=[d.slug for d in declarations])  # a number may move between them
        for declaration in declarations:
            synced = store.sync(session, declaration)
            bucket = (report.created if synced.created else report.new_version if synced.new_version
                      else report.unchanged)
            bucket.append(declaration.slug)
    return report
