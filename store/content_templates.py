"""WhatsApp content templates created at Twilio (``leadline content sync``), by the hash of their definition.

One row per template Twilio made: the SHA-256 of its exact definition (question, language, layout, text, button
ids and titles) → its SID. A changed question is a new definition, so a new hash and a new row; a send looks up the
hash of the question as it stands, so it never goes with a template of an older wording. A row changes only when
Twilio lost its template and the sync made it again.

The table lives here rather than in :mod:`store.models` (one concept: the synced templates and their queries); its
class is a mapped class of the same ``Base``, so Alembic's metadata holds it once this module is imported
(``store/migrations/env.py`` does).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, utcnow


class ContentTemplate(Base):
    """A content template Twilio created for one question in one language."""

    __tablename__ = "content_templates"

    definition_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 (hex) of the template's definition (``bot.twilio.content.ContentTemplate.fingerprint``)."""
    content_sid: Mapped[str] = mapped_column(String(34))
    """Twilio's SID for it, ``HX…``: the ``ContentSid`` of the messages sent with it."""
    friendly_name: Mapped[str] = mapped_column(String(200))
    question_id: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    """The conversation language it is for (a ``locales`` key), or None: the playbook's own."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def content_sid(session: Session, *, definition_hash: str) -> str | None:
    """The SID of the template with this definition, or None when none was created (not synced yet)."""
    return session.scalar(select(ContentTemplate.content_sid).where(ContentTemplate.definition_hash == definition_hash))


def record(session: Session, *, definition_hash: str, content_sid: str, friendly_name: str, question_id: str,
           language: str | None) -> None:
    """Keep the SID Twilio gave the template with this definition, in place of one Twilio no longer has (deleted
    there, or another account's: a new sandbox's)."""
    session.merge(ContentTemplate(definition_hash=definition_hash, content_sid=content_sid, friendly_name=friendly_name,
                                  question_id=question_id, language=language, created_at=utcnow()))


def templates(session: Session) -> list[ContentTemplate]:
    """Every template recorded, oldest first."""
    return list(session.scalars(select(ContentTemplate).order_by(ContentTemplate.created_at)))
