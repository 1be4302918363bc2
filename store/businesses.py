"""Businesses as the database keeps them: syncing one from its declaration, its playbook versions, and routing an
inbound message to the business that owns the number it was sent to.

Functions take the session first and everything else by keyword; callers own the transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.inbound import insert_ignore
from store.tenancy import DEFAULT_BUSINESS_ID, Business, PlaybookVersion, Sender


class SenderTaken(ValueError):
    """A sender is declared by two businesses: one number can route to only one of them."""


@dataclass(frozen=True)
class Declaration:
    """A business as its YAML file declares it (validated by the caller: ``graph.playbook.Playbook``).

    Attributes:
        slug: its handle, the file name without ``.yaml``.
        document: the playbook as read from YAML (kept as a version).
        name, timezone: the playbook's ``business.name`` and ``business.timezone`` (IANA).
        senders: every Twilio address it owns: ``+E.164`` SMS numbers, ``whatsapp:+E.164`` senders, ``MG…``.
        sms_from, whatsapp_from, messaging_service_sid: what it sends from when it starts a message.
        calendly_key_env: the environment variable holding its Calendly signing key, or None.
    """

    slug: str
    document: dict[str, Any]
    name: str
    timezone: str
    senders: Sequence[str] = ()
    sms_from: str | None = None
    whatsapp_from: str | None = None
    messaging_service_sid: str | None = None
    calendly_key_env: str | None = None


@dataclass(frozen=True)
class Synced:
    """What :func:`sync` did: the business's id, its current playbook version, and whether either is new."""

    business_id: int
    version_id: int
    created: bool
    new_version: bool


def document_sha256(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of a playbook document's canonical JSON (sorted keys): its version's identity."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def record_version(session: Session, *, business_id: int, document: dict[str, Any]) -> tuple[int, bool]:
    """The id of the business's version with this exact document, stored if new; and whether it was new.

    Safe when several processes record the same document at once (``INSERT … ON CONFLICT DO NOTHING``).
    """
    digest = document_sha256(document)
    inserted = session.scalar(insert_ignore(session, PlaybookVersion, "business_id", "sha256").values(
        business_id=business_id, sha256=digest, document=document).returning(PlaybookVersion.id))
    if inserted is not None:
        return inserted, True
    found = session.scalar(select(PlaybookVersion.id).where(PlaybookVersion.business_id == business_id,
                                                            PlaybookVersion.sha256 == digest))
    if found is None:  # pragma: no cover - the conflicting row cannot vanish inside the transaction
        raise RuntimeError("playbook version vanished while it was recorded")
    return found, False


def version_document(session: Session, *, version_id: int) -> tuple[int, dict[str, Any]] | None:
    """``(business id, document)`` of playbook version ``version_id``, or None when there is none."""
    row = session.execute(select(PlaybookVersion.business_id, PlaybookVersion.document)
                          .where(PlaybookVersion.id == version_id)).one_or_none()
    return None if row is None else (row[0], row[1])


def sync(session: Session, declaration: Declaration) -> Synced:
    """Create or update the business ``declaration.slug``: its name, zone, senders, and a new playbook version
    when the document changed (conversations in progress keep theirs).

    Raises:
        SenderTaken: a sender already belongs to another business.
    """
    d = declaration
    business = session.scalar(select(Business).where(Business.slug == d.slug))
    created = business is None
    if business is None:
        business = Business(slug=d.slug, name=d.name, timezone=d.timezone)
        session.add(business)
        session.flush()
    taken = session.execute(select(Sender.address, Business.slug).join(Business, Business.id == Sender.business_id)
                            .where(Sender.address.in_(list(d.senders)), Sender.business_id != business.id)).first()
    if taken is not None:
        raise SenderTaken(f"{d.slug}: sender {taken[0]} already belongs to business {taken[1]!r}")
    session.execute(delete(Sender).where(Sender.business_id == business.id, Sender.address.not_in(list(d.senders))))
    mine = set(session.scalars(select(Sender.address).where(Sender.business_id == business.id)))
    session.add_all(Sender(address=a, business_id=business.id) for a in dict.fromkeys(d.senders) if a not in mine)
    version_id, new_version = record_version(session, business_id=business.id, document=d.document)
    business.name, business.timezone, business.playbook_version_id = d.name, d.timezone, version_id
    business.sms_from, business.whatsapp_from = d.sms_from, d.whatsapp_from
    business.messaging_service_sid, business.calendly_key_env, business.active = (
        d.messaging_service_sid, d.calendly_key_env, True)
    session.flush()
    return Synced(business_id=business.id, version_id=version_id, created=created, new_version=new_version)


def retire_others(session: Session, *, keep: Collection[str]) -> list[str]:
    """Mark every business whose slug is not in ``keep`` inactive and free its senders (its data stays);
    returns their slugs."""
    gone = list(session.scalars(select(Business.slug).where(Business.slug.not_in(list(keep)), Business.active)))
    if gone:
        ids = select(Business.id).where(Business.slug.in_(gone)).scalar_subquery()
        session.execute(delete(Sender).where(Sender.business_id.in_(ids)))
        session.execute(update(Business).where(Business.slug.in_(gone)).values(active=False))
    return gone


def release_senders(session: Session, *, slugs: Collection[str]) -> None:
    """Free every sender of these businesses, in the transaction that syncs them again (so a number can move from
    one to another in one sync, and nothing routes nowhere in between)."""
    ids = select(Business.id).where(Business.slug.in_(list(slugs))).scalar_subquery()
    session.execute(delete(Sender).where(Sender.business_id.in_(ids)))


def route_table(session: Session) -> dict[str, int]:
    """Every sender of every active business: address (``+1…``, ``whatsapp:+1…``, ``MG…``) → business id."""
    return {address: business_id for address, business_id in session.execute(
        select(Sender.address, Sender.business_id).join(Business, Business.id == Sender.business_id)
        .where(Business.active))}


def business(session: Session, *, business_id: int) -> Business | None:
    """Business ``business_id`` (active or not), or None."""
    return session.get(Business, business_id)


def by_slug(session: Session, *, slug: str) -> Business | None:
    """The business with handle ``slug``, or None."""
    return session.scalar(select(Business).where(Business.slug == slug))


def listed(session: Session, *, active_only: bool = True) -> list[Business]:
    """Businesses by slug."""
    query = select(Business).order_by(Business.slug)
    return list(session.scalars(query.where(Business.active) if active_only else query))


def adopted_version(session: Session, *, document: dict[str, Any], name: str, timezone: str) -> int | None:
    """The id of the ``default`` business's version of ``document`` when it is recorded and current with this name
    and zone (so :func:`adopt_default` would change nothing); else None. Reads only."""
    row = session.execute(select(Business.playbook_version_id, Business.name, Business.timezone, PlaybookVersion.sha256)
                          .join(PlaybookVersion, PlaybookVersion.id == Business.playbook_version_id)
                          .where(Business.id == DEFAULT_BUSINESS_ID)).first()
    if row is None or row[0] is None or (row[1], row[2], row[3]) != (name, timezone, document_sha256(document)):
        return None
    return row[0]


def adopt_default(session: Session, *, document: dict[str, Any], name: str, timezone: str) -> int:
    """Record a one-business deployment's playbook (``PLAYBOOK``) as a version of the ``default`` business and make
    it current; returns the version id. Each process does it once, at its first lead; the same file is one version."""
    version_id, _ = record_version(session, business_id=DEFAULT_BUSINESS_ID, document=document)
    session.execute(update(Business).where(Business.id == DEFAULT_BUSINESS_ID).values(
        name=name, timezone=timezone, playbook_version_id=version_id))
    return version_id
