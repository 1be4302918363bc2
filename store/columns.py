"""Column types and the clock the tables share: timestamps kept in UTC, text kept byte for byte, and the
``business_id`` every tenant-owned row carries.

Re-exported by :mod:`store.models` (the migrations name ``store.models.UTCDateTime``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware UTC value")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class NulSafeText(TypeDecorator[str]):
    """Text kept exactly, U+0000 included: Postgres refuses NUL in text columns, so there a backslash is
    stored doubled and NUL as ``\\0``, and both are restored on read. SQLite stores the text as is."""

    impl: type[String] = Text  # widened so NulSafeString can put the same coding on a VARCHAR(n)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        return value.replace("\\", "\\\\").replace("\x00", "\\0")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql" or "\\" not in value:
            return value
        return re.sub(r"\\([\\0])", lambda m: "\x00" if m.group(1) == "0" else "\\", value)


class NulSafeString(NulSafeText):
    """:class:`NulSafeText` in a ``VARCHAR(n)`` column."""

    impl = String
    cache_ok = True


class BusinessOwned:
    """Mixin for a row that belongs to one business (the tenant): a ``business_id`` every query scopes by.

    Deleting a business deletes its rows (``ON DELETE CASCADE``): erasure of a whole business.
    """

    @declared_attr
    def business_id(cls) -> Mapped[int]:  # noqa: N805 - SQLAlchemy's declared_attr takes the class
        """The business this row belongs to (``businesses.id``)."""
        return mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), index=True)
