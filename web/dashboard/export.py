"""The owner report (:func:`store.report.owner_report`) as a CSV download, streamed 500 rows at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Response, request, stream_with_context

from store.bounds import parse_instant
from store.report import FIELDS, owner_report
from web.dashboard.blueprint import bp, runtime

CHUNK_ROWS = 500
"""Rows written before the CSV so far is sent on."""


@bp.get("/export.csv")
def export_csv() -> Response:
    """The owner report as CSV (``since``/``until`` ISO 8601, optional), streamed; bad instants are a 422."""
    rt = runtime()
    try:
        since = parse_instant(request.args["since"]) if request.args.get("since") else None
        until = parse_instant(request.args["until"]) if request.args.get("until") else None
    except ValueError:
        return Response("since/until must be ISO 8601\n", status=422, mimetype="text/plain")

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        with rt.sessions() as db:
            for n, row in enumerate(owner_report(db, business_id=rt.business.id, since=since, until=until), start=1):
                writer.writerow(row)
                if n % CHUNK_ROWS == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=leadline-owner-report.csv"})
