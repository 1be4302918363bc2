"""The businesses a process serves, as a turn or a request sees one: its playbook (of a given version), senders and
keys (:class:`BusinessContext`), found by id or by the number a message was sent to (:class:`Directory`).

Parsed playbooks are cached per version (immutable, so never stale) in a bounded LRU; business rows and routes for
``BUSINESS_CACHE_TTL_S`` seconds, so a ``leadline businesses sync`` reaches every process within that time without
any per-business loop. Memory is bounded by ``PLAYBOOK_CACHE_SIZE`` parsed playbooks, whatever the number of
businesses (``bench/businesses.py`` measures it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass, replace

from cachetools import LRUCache, TTLCache
from sqlalchemy.orm import Session, sessionmaker

from graph.playbook import Playbook
from settings import Settings
from store import businesses as store
from store.tenancy import DEFAULT_BUSINESS_ID, DEFAULT_SLUG

log = logging.getLogger(__name__)


class UnknownBusiness(LookupError):
    """No business has this id (erased, or never synced)."""


@dataclass(frozen=True)
class BusinessContext:
    """One business as a turn, a job or a request uses it.

    Attributes:
        id: ``businesses.id``; every row it owns carries it.
        slug: its handle (the YAML file's name).
        playbook: the playbook version this context speaks with.
        version_id: that version's ``playbook_versions.id`` (None until recorded).
        sms_from, whatsapp_from, messaging_service_sid: senders of the messages it starts (E.164,
            ``whatsapp:+E.164``, ``MG…``); None: not configured.
        calendly_key_env: the environment variable with its Calendly signing key, or None.
    """

    id: int
    slug: str
    playbook: Playbook
    version_id: int | None = None
    sms_from: str | None = None
    whatsapp_from: str | None = None
    messaging_service_sid: str | None = None
    calendly_key_env: str | None = None


def calendly_signing_key(settings: Settings, business: BusinessContext) -> str | None:
    """The business's Calendly signing key: the environment variable its YAML names
    (``business.calendly_signing_key_env``); else, in a one-business deployment, ``CALENDLY_SIGNING_KEY``; else one
    derived from it per business (HMAC-SHA256 of the slug), which ``leadline businesses calendly SLUG`` prints to
    give Calendly when creating the webhook subscription (its API takes the subscriber's ``signing_key``).
    None: no key, every delivery refused."""
    if business.calendly_key_env:
        named = settings.named_secret(business.calendly_key_env)
        return named.get_secret_value() if named else None
    master = settings.calendly_signing_key
    if master is None:
        return None
    if business.id == DEFAULT_BUSINESS_ID and business.slug == DEFAULT_SLUG:
        return master.get_secret_value()
    return hmac.new(master.get_secret_value().encode(), f"calendly:{business.slug}".encode(), hashlib.sha256).hexdigest()


class Directory:
    """Finds businesses and their playbooks for one process; thread-safe.

    One-business mode (``BUSINESSES_DIR`` unset): every message belongs to the ``default`` business, which speaks
    with this process's ``PLAYBOOK`` and sends from ``TWILIO_*``; the file's version is recorded on first use.
    Many-business mode: businesses, senders and versions come from the database (``leadline businesses sync``).
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], playbook: Playbook | None,
                 document: dict[str, object] | None, *, reads: sessionmaker[Session] | None = None) -> None:
        """``sessions`` writes (the default business's playbook version); ``reads`` looks businesses up, and may be
        called while the caller's thread holds a write transaction (``store.db.make_engine(reads_only=True)``)."""
        self.settings, self.sessions, self.reads = settings, sessions, reads or sessions
        self.single = settings.businesses_dir is None
        self._own, self._own_document = playbook, document
        self._own_version: int | None = None
        self._lock = threading.Lock()
        self._playbooks: LRUCache[int, Playbook] = LRUCache(maxsize=settings.playbook_cache_size)
        self._rows: TTLCache[int, BusinessContext] = TTLCache(maxsize=4096, ttl=settings.business_cache_ttl_s)
        self._senders: tuple[dict[str, int] | None, float] = (None, 0.0)
        self._reloading = False
        self._slugs: TTLCache[str, int | None] = TTLCache(maxsize=16384, ttl=settings.business_cache_ttl_s)

    def route(self, *, to_address: str, messaging_service_sid: str | None) -> int | None:
        """The business an inbound message sent to ``to_address`` (or through ``messaging_service_sid``) belongs
        to; None when no business owns either (the message is refused)."""
        if self.single:
            return DEFAULT_BUSINESS_ID
        table = self._route_table()
        found = table.get(to_address)
        if found is None and messaging_service_sid:
            found = table.get(messaging_service_sid)
        return found

    def _route_table(self) -> dict[str, int]:
        """Every active business's senders (address → business id), read in one query at most every
        ``BUSINESS_CACHE_TTL_S``: a lookup is then a dict hit whatever the number of businesses, and a number a
        sync added routes within that time. While one thread reloads it, the others keep using the last one."""
        now = time.monotonic()
        with self._lock:
            table, loaded_at = self._senders
            if table is not None and (now - loaded_at < self.settings.business_cache_ttl_s or self._reloading):
                return table
            self._reloading = True
        try:
            with self.reads() as session:
                fresh = store.route_table(session)
            with self._lock:
                self._senders = (fresh, now)
        finally:
            with self._lock:
                self._reloading = False
        return fresh

    def by_slug(self, slug: str | None) -> int | None:
        """The id of the active business with handle ``slug``, or None."""
        if not slug:
            return None
        with self._lock:
            if slug in self._slugs:
                return self._slugs[slug]
        with self.reads() as session:
            row = store.by_slug(session, slug=slug)
            found = row.id if row is not None and row.active else None
        with self._lock:
            self._slugs[slug] = found
        return found

    def close(self) -> None:
        """Release the lookups' own connections, when they have their own engine."""
        if self.reads is not self.sessions:
            self.reads.kw["bind"].dispose()

    def warm(self) -> None:
        """Record a one-business deployment's playbook version now (a process calls it at start, outside any
        transaction) rather than at its first lead, or load the routes of many; a database not migrated yet is
        left for the first message."""
        try:
            self.get(DEFAULT_BUSINESS_ID) if self.single else self._route_table()
        except Exception:  # not migrated yet, or away: the first message does it
            log.warning("could not read the businesses at start; the first message will", exc_info=True)

    def get(self, business_id: int, *, version_id: int | None = None) -> BusinessContext:
        """Business ``business_id`` speaking with playbook version ``version_id`` (None: its current one).

        Raises:
            UnknownBusiness: no such business, or it has no playbook yet.
        """
        with self._lock:
            current = self._rows.get(business_id)
        if current is None:
            current = self._load(business_id)
            with self._lock:
                self._rows[business_id] = current
        if version_id is None or version_id == current.version_id:
            return current
        return replace(current, playbook=self.playbook(version_id), version_id=version_id)

    def playbook(self, version_id: int) -> Playbook:
        """Playbook version ``version_id``, parsed once per process (LRU of ``PLAYBOOK_CACHE_SIZE``).

        Raises:
            UnknownBusiness: no such version.
        """
        with self._lock:
            cached = self._playbooks.get(version_id)
        if cached is not None:
            return cached
        with self.reads() as session:
            found = store.version_document(session, version_id=version_id)
        if found is None:
            raise UnknownBusiness(f"no playbook version {version_id}")
        parsed = Playbook.model_validate(found[1])
        with self._lock:
            self._playbooks[version_id] = parsed
        return parsed

    def _load(self, business_id: int) -> BusinessContext:
        if self.single and business_id == DEFAULT_BUSINESS_ID:
            return self._default()
        with self.reads() as session:
            row = store.business(session, business_id=business_id)
            if row is None or row.playbook_version_id is None:
                raise UnknownBusiness(f"no business {business_id}")
            version_id, slug = row.playbook_version_id, row.slug
            senders = (row.sms_from, row.whatsapp_from, row.messaging_service_sid, row.calendly_key_env)
        return BusinessContext(id=business_id, slug=slug, playbook=self.playbook(version_id), version_id=version_id,
                               sms_from=senders[0], whatsapp_from=senders[1], messaging_service_sid=senders[2],
                               calendly_key_env=senders[3])

    def _default(self) -> BusinessContext:
        """The one business of a one-business deployment, with this process's playbook (recorded once)."""
        if self._own is None or self._own_document is None:
            raise UnknownBusiness("no PLAYBOOK for the default business")
        if self._own_version is None:
            document, business = dict(self._own_document), self._own.business
            with self.reads() as session:  # another process recorded this very file already: nothing to write
                self._own_version = store.adopted_version(session, document=document, name=business.name,
                                                          timezone=business.timezone)
            if self._own_version is None:
                with self.sessions.begin() as session:
                    self._own_version = store.adopt_default(session, document=document, name=business.name,
                                                            timezone=business.timezone)
            with self._lock:
                self._playbooks[self._own_version] = self._own
        s = self.settings
        return BusinessContext(id=DEFAULT_BUSINESS_ID, slug="default", playbook=self._own, version_id=self._own_version,
                               sms_from=s.twilio_sms_from, whatsapp_from=s.twilio_whatsapp_from,
                               messaging_service_sid=s.twilio_messaging_service_sid)
