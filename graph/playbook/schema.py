"""The playbook's sections: business, questions, scoring, outcomes, reps, FAQ, replies, locales, goals, routing.

Each is a frozen pydantic model that refuses unknown keys; :class:`graph.playbook.Playbook`
puts them together with the cadence and checks them against each other.
"""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import Field, field_validator, model_validator

from graph.playbook.base import Identifier, Model
from graph.playbook.phones import to_e164

QuestionType = Literal["choice", "yes_no", "number", "money", "postal_code", "text"]


class Senders(Model):
    """The Twilio senders a business owns (``BUSINESSES_DIR``): an inbound message to one of them is this
    business's lead. A one-business deployment leaves them out and uses ``TWILIO_*`` from the environment."""

    sms: list[str] = []
    """Its SMS numbers, E.164; the first sends what the business starts (rep alerts, touches)."""
    whatsapp: list[str] = []
    """Its WhatsApp senders, E.164 (``whatsapp:`` is implied); the first sends what the business starts."""
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    """Its Messaging Service: replies and what it starts go through it; inbound messages sent to it route here."""

    @field_validator("sms", "whatsapp", mode="before")
    @classmethod
    def _e164(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        return [to_e164(v.removeprefix("whatsapp:") if isinstance(v, str) else v) for v in value]


class Business(Model):
    """Who the bot speaks for."""

    name: str
    """Used in texts as ``{business}``."""
    timezone: str
    """IANA zone of the business, e.g. ``America/Denver``; the fallback for a lead's local time."""
    help_text: str
    """Sent when a prospect texts HELP or INFO (CTIA short-code guidelines require an answer)."""
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    """ISO 639-1 code of the playbook's own texts; a prospect detected writing another of ``locales`` gets those."""
    fallback_name: str | None = None
    """``{name}`` when the prospect gave no name; unset, the name is left out ("Hi!", "Thanks!")."""
    resubscribed_text: str = "You're subscribed again to messages from {business}. Reply STOP to opt out."
    senders: Senders = Senders()
    calendly_signing_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,127}$")
    """The environment variable with its Calendly signing key; unset: derived from ``CALENDLY_SIGNING_KEY``."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class Points(Model):
    """Score points an answer earns; ``fit`` and ``intent`` are summed separately."""

    fit: int = 0
    intent: int = 0
    estimated_value_usd: float | None = Field(default=None, ge=0)


BUTTON_TITLE_MAX = 20
"""Longest title of a WhatsApp quick-reply button (Twilio Content API, ``twilio/quick-reply``: 20 characters);
list-picker items allow 24, so one limit serves both."""


class Answer(Points):
    """What one answer earns, how prospects say it, and how the bot names it back to them."""

    synonyms: list[str] = []
    """Words and phrasings that give this answer anywhere in a message, e.g. ``asap`` for ``now`` or
    ``we own it`` for yes; matched as whole words, any case, accents and small typos forgiven."""
    label: str | None = Field(default=None, min_length=1, max_length=BUTTON_TITLE_MAX)
    """Its button title on WhatsApp (at most 20 characters); default: the value, capitalised."""
    confirm: str | None = None
    """How the bot names it when confirming what it read, e.g. "a full replacement"; default: the label."""


class Choice(Answer):
    """One option of a ``choice`` question, with the points picking it earns."""

    value: str
    """Stored as the answer; a reply naming it (whole words, any case) picks it."""


class Question(Model):
    """One qualification question; the fields beyond ``type`` are allowed only for the type they belong to."""

    id: Identifier
    """Key of the answer, and the placeholder (``{id}``) that shows it in texts."""
    ask: str
    type: QuestionType
    """How an answer is parsed (``graph.parsing``): a choice, yes/no, an amount, a US ZIP code or free text."""
    hint: str | None = None
    """Re-ask prefix when an answer can't be parsed; a sensible one per type by default."""
    choices: list[Choice] = []
    yes: Answer | None = None
    """Points a yes earns and its phrasings, e.g. "we own it" (``yes_no`` questions)."""
    no: Answer | None = None
    """Points a no earns and its phrasings, e.g. "I rent" (``yes_no`` questions)."""
    confirm: str = "{answer}"
    """The clause confirming an answer read from free text; ``{answer}`` is the answer's ``confirm``
    (or label, or the value), e.g. ``"in {answer}"`` for a ZIP code."""
    service_area: list[str] = []
    """Postal-code prefixes served (``postal_code`` questions); empty means everywhere."""
    outside_area: Literal["disqualify", "continue"] = "continue"
    """What a ZIP code outside ``service_area`` does: end the conversation as disqualified, or nothing."""

    @model_validator(mode="after")
    def _type_fields(self) -> Question:
        if self.type == "choice":
            if len(self.choices) < 2:
                raise ValueError("a choice question needs at least 2 choices")
            values = [c.value for c in self.choices]
            if len(set(values)) != len(values):
                raise ValueError("choice values must be unique")
        elif self.choices:
            raise ValueError(f"choices are only for type 'choice', not {self.type!r}")
        if self.type != "yes_no" and (self.yes or self.no):
            raise ValueError("yes/no points are only for type 'yes_no'")
        if self.type != "postal_code" and (self.service_area or self.outside_area != "continue"):
            raise ValueError("service_area/outside_area are only for type 'postal_code'")
        return self


class Grades(Model):
    """Lowest total (0–100) for each letter, descending; a total under ``C`` is graded D."""

    A: int = Field(ge=0, le=100)
    B: int = Field(ge=0, le=100)
    C: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Grades:
        if not self.A > self.B > self.C:
            raise ValueError("grade bands must descend: A > B > C")
        return self


class Scoring(Model):
    """How answers become a 0–100 score and what the score decides."""

    engagement_max: int = Field(default=10, ge=0, le=100)
    """Points for answering every question; each re-ask costs a tenth of it."""
    grades: Grades
    qualify_at: int = Field(ge=0, le=100)
    """A total at or over this is qualified: booking link sent, reps alerted."""
    hot_at: int = Field(ge=0, le=100)
    """A total at or over this makes the rep alert say HOT; at least ``qualify_at``."""

    @model_validator(mode="after")
    def _hot_above_qualify(self) -> Scoring:
        if self.hot_at < self.qualify_at:
            raise ValueError("hot_at must be at least qualify_at")
        return self


class QualifiedOutcome(Model):
    """What a qualified lead is told: the booking link."""

    message: str
    booking_url: str
    """The lead's name, phone and ``utm_*`` reference are added as query parameters when sent."""
    already_text: str = "Your booking link again, {name}: {booking_url}. A rep will reach out too."


class ResourceOutcome(Model):
    """What a lead that did not qualify is told: a useful resource instead of a booking."""

    message: str
    resource_url: str
    already_text: str = "Thanks {name}! A member of our team will reach out if we can help."


class Outcomes(Model):
    """The texts that end a qualification, one per outcome (``already_text`` answers any later message)."""

    qualified: QualifiedOutcome
    nurture: ResourceOutcome
    disqualified: ResourceOutcome


class Rep(Model):
    """A sales rep: gets lead alerts, and runs rep commands when texting the bot from ``phone``."""

    name: str
    """Unique among the reps; routing rules and handoffs name a rep by it."""
    phone: str
    """E.164; normalised on load."""
    channel: Literal["sms", "whatsapp"] = "sms"

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return to_e164(value)


class FaqEntry(Model):
    """An off-script question the bot may answer (only these; anything else gets ``replies.faq_unknown``)."""

    id: Identifier
    question: str
    """The question as prospects ask it; shown to the model to recognise it."""
    answer: str


class Replies(Model):
    """The bot's own texts beyond the questions (used when a model recognises the situation)."""

    faq_unknown: str = "Good question. A member of our team will follow up on that."
    handoff: str = "Thanks {name}. I'm passing you to {rep}, who will reach out to you personally."
    wrong_number: str = "Sorry for the mix-up! We won't text this number again."
    wrong_number_check: str = "Sorry! Did we reach the wrong person? Reply YES and we won't text again."
    """Sent when only a model thinks the message says "wrong number": the lead is closed only on a yes."""
    understood: str = "Got it: {understood}."
    """Starts the next message when answers were read from free text rather than given to the question just
    asked, so the prospect can correct them; ``{understood}`` is the questions' ``confirm`` clauses."""


class LocaleAnswer(Model):
    """An answer's words in another language: button title, confirmation, and how prospects say it."""

    label: str | None = Field(default=None, min_length=1, max_length=BUTTON_TITLE_MAX)
    confirm: str | None = None
    synonyms: list[str] = []


class Locale(Model):
    """The owner's texts in another language; anything left out falls back to the playbook's own (English) text."""

    greeting: str | None = None
    questions: dict[str, str] = {}
    """Question id → the question in this language."""
    outcomes: dict[str, dict[str, str]] = {}
    """``qualified`` / ``nurture`` / ``disqualified`` → ``{message, already_text}``."""
    steps: dict[str, str] = {}
    """Cadence step id → its text in this language."""
    faq: dict[str, str] = {}
    """FAQ id → its answer in this language."""
    replies: dict[str, str] = {}
    """``faq_unknown`` / ``handoff`` / ``wrong_number`` / ``wrong_number_check`` / ``understood`` in this language."""
    hint: str | None = None
    """Prefix of a re-ask in this language (e.g. "Perdón, no entendí.")."""
    answers: dict[str, dict[str, LocaleAnswer]] = {}
    """Question id → answer (a choice's value, ``yes`` or ``no``) → its label, confirmation and synonyms in
    this language. Synonyms of every language are read whatever the prospect's language."""
    confirm: dict[str, str] = {}
    """Question id → its confirmation clause in this language (see ``Question.confirm``)."""
    yes_words: list[str] = []
    """Plain yes in this language ("sí", "claro"), read as the answer to a pending yes/no question."""
    no_words: list[str] = []
    """Plain no in this language ("no", "para nada"), read as the answer to a pending yes/no question."""


class Goals(Model):
    """The owner's targets, shown against the actuals in ``/stats``."""

    qualified_per_month: int | None = Field(default=None, ge=1)
    """Qualified leads wanted per calendar month (business time zone)."""
    first_response_minutes: float = Field(default=5, gt=0)
    """Speed-to-lead promise: a lead's ``first_response_due_at`` is its capture plus this, minutes."""


class RoutingRule(Model):
    """Give a lead to ``rep`` when its answer to ``question`` is one of ``values`` (else round-robin)."""

    question: str
    values: list[str] = Field(min_length=1)
    """Answer values as stored: a choice's ``value``, ``yes``/``no``, a ZIP prefix for postal codes."""
    rep: str
