"""Sends Twilio accepted but the database could not record: kept in Redis until it can.

A worker that lost the database right after Twilio's answer knows the MessageSid, but the row
stays ``claimed``. Left alone, the stale-claim pass (:func:`bot.delivery.send.resolve_stale_claims`)
would settle it only after ``STALE_CLAIM_AFTER_S`` (5 minutes by default) by asking Twilio, and the
prospect's next replies wait behind it, since messages to one recipient go in order. Kept here,
the reconciler records it on its first pass after the database answers again. Each entry holds
ids, the MessageSid, our sender and a time: never the prospect's number or the text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime

from redis.typing import EncodableT, FieldT

from runtime import Runtime
from store import sends
from store.redis import text

log = logging.getLogger(__name__)


def _key(rt: Runtime) -> str:
    return f"leadline:unrecorded:{rt.settings.queue_name}"


def keep(rt: Runtime, records: list[sends.SentRecord]) -> bool:
    """Keep ``records`` (sends Twilio accepted, not yet recorded) in Redis, one hash field per outbox row id.

    Returns False, after logging, when Redis cannot take them either; the stale-claim pass still settles them.
    """
    if not records:
        return True
    fields: dict[FieldT, EncodableT] = {
        str(r.message_id): json.dumps({**asdict(r), "sent_at": r.sent_at.isoformat()}) for r in records}
    try:
        rt.redis.hset(_key(rt), mapping=fields)
        return True
    except Exception:
        log.exception("could not keep %s unrecorded send(s) in Redis either; the stale-claim pass will settle them",
                      len(records))
        return False


def record_kept(rt: Runtime, *, prospect_kinds: frozenset[str]) -> int:
    """Record the sends :func:`keep` holds whose rows are still ``claimed``, then forget them all.

    Returns how many rows were recorded.

    Raises:
        sqlalchemy.exc.OperationalError: the database is still away (the entries stay for the next pass).
        redis.exceptions.ConnectionError: Redis is away.
    """
    raw = rt.redis.hgetall(_key(rt))
    if not raw:
        return 0
    records = []
    for field, value in raw.items():
        try:
            data = json.loads(value)
            records.append(sends.SentRecord(**{**data, "sent_at": datetime.fromisoformat(data["sent_at"])}))
        except (ValueError, TypeError, KeyError):  # not ours to read: dropped below, the stale-claim pass settles it
            log.error("unreadable kept send for outbox row %s dropped", text(field, errors="replace"))
    with rt.sessions.begin() as session:
        recorded = sends.record_sent_if_claimed(session, records, prospect_kinds=prospect_kinds)
    rt.redis.hdel(_key(rt), *raw.keys())
    if recorded:
        log.info("recorded %s send(s) Twilio had accepted while the database was away", recorded)
    return recorded
