"""The owner report, one row per lead (the seeds' owner report fields), for CSV export.

Both exports (the dashboard's Export CSV and ``leadline export``) write these rows as they come, so the
rows are made safe for a spreadsheet here, once: see :func:`spreadsheet_safe`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from store.models import Lead
from store.stats import minutes_between

FIELDS = ("lead_id", "created_at", "source", "channel", "first_response_minutes", "estimated_value_usd", "status",
          "lost_reason", "score", "grade", "owner")
"""Columns, in order: the seeds' owner report fields plus the lead's id, capture time (UTC) and channel."""


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters a spreadsheet reads as the start of a formula (OWASP, "CSV Injection")."""


def spreadsheet_safe(text: str) -> str:
    """``text`` with a single quote in front when it begins like a formula (``=HYPERLINK(…)``, ``+1…``, ``@SUM``,
    a tab or a carriage return), so Excel, LibreOffice and Google Sheets show it as text instead of running it.

    OWASP's recommendation against CSV injection (https://owasp.org/www-community/attacks/CSV_Injection);
    quoting the cell and its double quotes is left to the ``csv`` module.
    """
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def owner_report(session: Session, *, business_id: int | None, since: datetime | None = None,
                 until: datetime | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every lead of business ``business_id`` (None: of every business, for the agency) captured in the window,
    oldest first, streamed in batches.

    Minutes and USD are numbers (USD as a ``"1200.00"`` string); every text cell (a lead's source, owner…, which
    come from outside) is :func:`spreadsheet_safe`.
    """
    window = [Lead.created_at >= since] if since else []
    if business_id is not None:
        window.append(Lead.business_id == business_id)
    if until:
        window.append(Lead.created_at < until)
    minutes = minutes_between(Lead.first_response_at, Lead.created_at)
    query = (select(Lead.id, Lead.created_at, Lead.source, Lead.channel, minutes, Lead.estimated_value_usd, Lead.status,
                    Lead.lost_reason, Lead.score_total, Lead.grade, Lead.owner)
             .where(and_(True, *window)).order_by(Lead.id))
    for row in session.execute(query.execution_options(yield_per=batch)):
        values: dict[str, Any] = {k: spreadsheet_safe(v) if isinstance(v, str) else v
                                  for k, v in zip(FIELDS, row, strict=True)}
        values["created_at"] = values["created_at"].isoformat()
        if values["first_response_minutes"] is not None:
            values["first_response_minutes"] = round(float(values["first_response_minutes"]), 2)
        if values["estimated_value_usd"] is not None:
            values["estimated_value_usd"] = f"{values['estimated_value_usd']:.2f}"
        yield values


def write_csv(session: Session, output: IO[str], *, business_id: int | None, since: datetime | None = None,
              until: datetime | None = None) -> int:
    """Write :func:`owner_report` to ``output`` as CSV with a header row; returns the number of leads written."""
    writer = csv.DictWriter(output, fieldnames=FIELDS)
    writer.writeheader()
    count = 0
    for row in owner_report(session, business_id=business_id, since=since, until=until):
        writer.writerow(row)
        count += 1
    return count
