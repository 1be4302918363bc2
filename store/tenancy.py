"""The tenants' tables: businesses, the Twilio senders each owns, its playbook versions, dashboard users and API
tokens.

A business is the unit of tenancy: every lead, message, touch, opt-out and consent record carries its id
(:class:`store.columns.BusinessOwned`). Businesses are declared in YAML (``BUSINESSES_DIR``) and written here by
``leadline businesses sync`` (:mod:`store.businesses`); a one-business deployment (``PLAYBOOK`` alone) has the
``default`` business that migration 0008 made. Like :mod:`store.content_templates`, these classes join
``Base.metadata`` when this module is imported (``store/migrations/env.py`` does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, utcnow

DEFAULT_BUSINESS_ID = 1
"""The business a one-business deployment's rows belong to (slug ``default``, made by migration 0008)."""
DEFAULT_SLUG = "default"


class Business(Base):
    """One business Leadline answers leads for (the tenant): its name, time zone, senders and current playbook."""

    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    """Its handle: the YAML file's name without ``.yaml``, in URLs (``/webhooks/calendly/<slug>``) and the CLI."""
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    """IANA zone of its hours, goals and reports."""
    playbook_version_id: Mapped[int | None]
    """Its current playbook (``playbook_versions.id``): new conversations start on it."""
    sms_from: Mapped[str | None] = mapped_column(String(20))
    """E.164 sender of the SMS it starts (rep alerts, touches); None: its first SMS number."""
    whatsapp_from: Mapped[str | None] = mapped_column(String(64))
    """``whatsapp:+E.164`` sender of the WhatsApp messages it starts."""
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    """Its Messaging Service (``MG…``): replies and what it starts go through it when set."""
    calendly_key_env: Mapped[str | None] = mapped_column(String(128))
    """The environment variable holding its Calendly signing key; None: derived from ``CALENDLY_SIGNING_KEY``."""
    active: Mapped[bool] = mapped_column(default=True)
    """False once its YAML file is gone from ``BUSINESSES_DIR``: its numbers no longer route to it; data kept."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Sender(Base):
    """A Twilio address that belongs to one business: an SMS number (``+1…``), a WhatsApp sender
    (``whatsapp:+1…``) or a Messaging Service (``MG…``). An inbound message finds its business by its ``To``,
    then its ``MessagingServiceSid``."""

    __tablename__ = "business_senders"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)


class PlaybookVersion(Base):
    """One version of a business's playbook, kept as the validated document; a conversation carries on with the
    version it started on (``leads.playbook_version_id``) whatever syncs come after."""

    __tablename__ = "playbook_versions"
    __table_args__ = (UniqueConstraint("business_id", "sha256", name="uq_playbook_versions_business_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the document's canonical JSON: the same playbook synced twice is one version."""
    document: Mapped[dict[str, Any]]
    """The playbook as read from YAML (validated by ``graph.playbook.Playbook`` before it is stored)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A dashboard login: an owner or rep of one business, or an agency admin (``business_id`` None) who sees
    every business. The password is kept only as an argon2id hash (argon2-cffi)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    """What they sign in with (an email address, usually); compared case-insensitively (stored lower-case)."""
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for ``POST /leads`` (scope ``leads``) or ``GET /stats`` (scope ``stats``) of one business,
    or, with no business, the agency's ``stats`` token (every business's totals). Only its SHA-256 is kept: a token
    is 32 random bytes, so a fast hash is as safe as a slow one and a lookup is one indexed read."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
