"""Leadline's tables: leads, their messages (inbound and the outbox), timeline, capture events, opt-outs; each row
belongs to a business (``BusinessOwned``). Businesses, senders, playbook versions, users: :mod:`store.tenancy`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.addresses import address_for
from store.columns import BusinessOwned, NulSafeString, NulSafeText, UTCDateTime, utcnow

__all__ = [
    "LEAD_STATUSES", "LOST_REASONS", "NEXT_ACTION_BY", "TOUCH_RESULTS",
    "Activity", "Base", "CaptureEvent", "ConsentRecord", "Lead", "LlmCall", "Message", "Suppression", "Touch",
    # The column types and clock, from store.columns: callers and the migrations take them from here.
    "BusinessOwned", "NulSafeString", "NulSafeText", "UTCDateTime", "utcnow",
]

LEAD_STATUSES = ("new", "contacted", "qualified", "disqualified", "booked", "won", "lost", "dormant", "opted_out")
"""Every lead is in exactly one of these (the seeds' lead stages, plus opted_out)."""

NEXT_ACTION_BY = ("bot", "reps", "rep", "nurture", "closed")
"""Route state ``current_queue`` (``Lead.next_action_by``): the bot is qualifying the lead; reps should call it (qualified);
one rep has taken the conversation over; it waits in nurture (dormant); closed (booked, won, lost…)."""

LOST_REASONS = ("not_serviceable", "duplicate", "no_reply", "opted_out", "price", "no_capacity", "other")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), Decimal: Numeric(12, 2)}


class Lead(BusinessOwned, Base):
    """A prospect of one business on one channel: one row per (business, channel, phone), like the conversation
    thread. The same number can be a lead of two businesses, with two conversations."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("business_id", "channel", "phone", name="uq_leads_business_channel_phone"),
                      Index("ix_leads_status", "status"), Index("ix_leads_created", "created_at"),
                      Index("ix_leads_queue", "score_total", "last_activity_at"), Index("ix_leads_business_created",
                          "business_id", "created_at", "first_response_at", "qualified_at", "booked_at"))  # 0009

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    """E.164, e.g. ``+13035550100``."""
    channel: Mapped[str] = mapped_column(String(16))
    """``sms`` or ``whatsapp``."""
    profile_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="new")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score_total: Mapped[int | None]
    score_fit: Mapped[int | None]
    score_intent: Mapped[int | None]
    score_engagement: Mapped[int | None]
    score_breakdown: Mapped[dict[str, Any] | None]
    """The items behind each score part: question, answer, points."""
    grade: Mapped[str | None] = mapped_column(String(1))
    estimated_value_usd: Mapped[Decimal | None]
    owner: Mapped[str | None] = mapped_column(String(200))
    """Name of the rep who owns the next action."""
    lost_reason: Mapped[str | None] = mapped_column(String(32))
    business_address: Mapped[str | None] = mapped_column(String(64))
    """The Twilio address the prospect wrote to (``+1…`` or ``whatsapp:+1…``); replies go from it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    first_response_at: Mapped[datetime | None]
    """When the first message to the lead was handed to Twilio (speed-to-lead)."""
    last_inbound_at: Mapped[datetime | None]
    """Last message from the lead (WhatsApp's 24-hour window counts from it)."""
    timezone: Mapped[str | None] = mapped_column(String(64))
    """The lead's IANA zone, from the number (phonenumbers) or the business's; quiet hours follow it."""
    stop_reason: Mapped[str | None] = mapped_column(String(16))
    """Why the cadence stopped: booked, replied, not_serviceable, duplicate, opted_out, stale."""
    enrolled_at: Mapped[datetime | None]
    """When the lead was last enrolled in the follow-up cadence."""
    call_alert_at: Mapped[datetime | None]
    """When the rep's call alert for this hot lead goes (or went) out: now, or the next call-window opening."""
    dispatcher: Mapped[str | None] = mapped_column(String(64))
    """Who assigned the owner: ``round_robin``, ``rule:<question>``, or ``rep:<name>`` (a CLAIM)."""
    assigned_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime | None]
    """Capture + ``goals.first_response_minutes`` (5 by default): the speed-to-lead promise."""
    next_action_by: Mapped[str | None] = mapped_column("current_queue", String(16))
    """Who has the lead's next action, one of ``NEXT_ACTION_BY``; follows the status and a rep's take-over. The
    column keeps the seeds' route-state name, ``current_queue`` (in Leadline "queue" means RQ's)."""
    taken_over_by: Mapped[str | None] = mapped_column(String(200))
    """The rep who took the conversation over from the bot (the bot stays silent while set)."""
    last_activity_at: Mapped[datetime | None]
    """Newest entry on the lead's timeline; the work queue's second sort key."""
    qualified_at: Mapped[datetime | None]
    """First time the lead reached ``qualified`` (kept when it moves on: the qualification rate counts it)."""
    booked_at: Mapped[datetime | None]
    """When its current booking was made; cleared when the booking is cancelled."""
    playbook_version_id: Mapped[int | None]
    """The playbook version its conversation started on (``playbook_versions.id``); None: the business's current."""

    messages: Mapped[list[Message]] = relationship(back_populates="lead", order_by="Message.id")
    activities: Mapped[list[Activity]] = relationship(back_populates="lead", order_by="Activity.id")

    @property
    def address(self) -> str:
        """The lead's Twilio address: ``whatsapp:+1…`` on WhatsApp, the E.164 number on SMS."""
        return address_for(self.phone, self.channel)


class Message(BusinessOwned, Base):
    """One message, inbound or outbound. Outbound rows are the outbox.

    An outbound row is written (``outbox_state='pending'``) before any Twilio call, claimed
    by exactly one worker (``claimed``), re-checked, then handed to Twilio (``sent``) or
    ``cancelled``/``failed``. ``status`` is Twilio's own message status, set from the API
    answer and the status callbacks.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_lead", "lead_id", "id"),
                      Index("ix_messages_inbox", "business_id", "from_address", "processed_at"),
                      Index("ix_messages_outbox", "outbox_state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    """Set for outbound rows when queued; for inbound rows when their turn attaches them to a lead."""
    direction: Mapped[str] = mapped_column(String(8))
    """``inbound`` or ``outbound``."""
    kind: Mapped[str] = mapped_column(String(16))
    """``prospect`` (inbound), ``reply``, ``help``, ``rep_alert``, ``system``."""
    to_address: Mapped[str] = mapped_column(String(64))
    from_address: Mapped[str | None] = mapped_column(String(64))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34))
    sender_name: Mapped[str | None] = mapped_column(NulSafeString(200))
    """Inbound: the WhatsApp ProfileName that came with the message."""
    body: Mapped[str | None] = mapped_column(NulSafeText)
    """Kept exactly as received or sent (any Unicode, NUL included)."""
    media: Mapped[dict[str, Any] | None]
    """Inbound media: ``{"urls": [...], "types": [...]}``."""
    tapped: Mapped[str | None] = mapped_column(NulSafeString(200))
    """Inbound: the id of the WhatsApp button or list item the prospect tapped (``ButtonPayload``/``ListId``)."""
    content_sid: Mapped[str | None] = mapped_column(String(34))
    """Outbound WhatsApp content template (``HX…``), sent instead of ``body``."""
    content_variables: Mapped[dict[str, Any] | None]
    twilio_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    """Twilio's MessageSid; unique, which is what makes webhook retries harmless."""
    status: Mapped[str | None] = mapped_column(String(24))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    """Outbox key (e.g. ``reply:<inbound id>:<n>``); a re-run that writes the same row again is a no-op."""
    outbox_state: Mapped[str | None] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    send_after: Mapped[datetime | None]
    """Outbound: not before this time (a rep alert held for the call window)."""
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    """Inbound: when its conversation turn was committed."""

    lead: Mapped[Lead | None] = relationship(back_populates="messages")


class Activity(BusinessOwned, Base):
    """The lead's timeline: ``status_change`` (``data.from``/``data.to``), ``message``, ``capture``, ``note``."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_lead", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="activities")


class CaptureEvent(BusinessOwned, Base):
    """Each new contact normalised into the seeds' capture event shape."""

    __tablename__ = "capture_events"
    __table_args__ = (UniqueConstraint("business_id", "event_id", name="uq_capture_events_business_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))  # the source's id (a MessageSid…), idempotent per business
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16))
    service_type: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str | None] = mapped_column(String(64))
    contact_method: Mapped[str] = mapped_column(String(16))
    duplicate: Mapped[bool] = mapped_column(default=False)
    """The contact arrived while the phone already had an open lead: recorded, not messaged (stop ``duplicate``)."""


TOUCH_RESULTS = ("sent", "delivered", "failed", "skipped_quiet_hours", "skipped_no_template", "cancelled")


class Touch(BusinessOwned, Base):
    """One scheduled follow-up: the seeds' recovery attempt. The database holds the whole schedule.

    A row exists before its job is enqueued; ``(lead_id, step)`` is unique, so a step is
    scheduled, and sent, at most once per lead. ``result`` is None while it is owed;
    ``skipped_quiet_hours`` with a ``next_attempt_at`` while deferred; then final.
    """

    __tablename__ = "touches"
    __table_args__ = (UniqueConstraint("lead_id", "step", name="uq_touches_lead_step"),
                      Index("ix_touches_owed", "result", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(32))
    attempt_number: Mapped[int]
    """1 for the first step of the cadence, 2 for the second…"""
    due_at: Mapped[datetime]
    """Capture + the step's ``after`` (scaled)."""
    next_attempt_at: Mapped[datetime | None]
    """When it will be tried next (``due_at``, or the end of quiet hours); None once final."""
    attempted_at: Mapped[datetime | None]
    message_type: Mapped[str | None] = mapped_column(String(24))
    """``sms``, ``whatsapp_text`` (inside the 24-hour window) or ``whatsapp_template``."""
    result: Mapped[str | None] = mapped_column(String(24))
    error_code: Mapped[int | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    enqueued_at: Mapped[datetime | None]
    """When its job was last put in Redis (the reconciler re-enqueues it if Redis lost it)."""
    job_id: Mapped[str | None] = mapped_column(String(64))
    """The RQ job holding it: a batch of touches due in the same second (``touches-<epoch>-<first id>``)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lead: Mapped[Lead] = relationship()


class Suppression(BusinessOwned, Base):
    """A number that opted out (STOP) of one business: nothing is sent to it from that business, on any channel,
    until it opts back in. Per business because TCPA and the carriers treat an opt-out per sender (CTIA Messaging
    Principles): a STOP to one business's number does not silence another business.

    Keyed by a SHA-256 of the E.164 number so the entry can outlive an erased lead.
    """

    __tablename__ = "suppressions"

    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    keyword: Mapped[str | None] = mapped_column(String(16))


class LlmCall(BusinessOwned, Base):
    """One language-model call: what for, how long, how many tokens, and whether its answer was used."""

    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(16))
    """``extract``, ``draft`` or ``summary``."""
    model: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    """``ok``, ``timeout``, ``error`` (HTTP or connection), ``invalid`` (failed the schema or the draft checks)."""
    reason: Mapped[str | None] = mapped_column(String(200))
    latency_ms: Mapped[int]
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(BusinessOwned, Base):
    """One consent event for a number: given (a form, the prospect's own first message, START) or revoked
    (STOP, opt-out in words, a carrier's 21610). Appended, never changed: the record of who agreed to what, when.

    Source of the duty: TCPA (47 U.S.C. § 227) and the CTIA Messaging Principles expect a business to
    show the consent behind every message it sends.
    """

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_phone", "phone", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    """E.164 (erasure removes these rows with the rest of the number's data)."""
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    """``sms``, ``whatsapp``, or ``any`` (an opt-out covers both)."""
    event: Mapped[str] = mapped_column(String(8))
    """``granted`` or ``revoked``."""
    source: Mapped[str] = mapped_column(String(64))
    """Where it came from: the capture source (``web_form``…), ``inbound_sms``, ``keyword``, ``words``, ``carrier``."""
    text: Mapped[str] = mapped_column(Text)
    """The exact words: the form's consent text, the prospect's message, the keyword they sent."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
