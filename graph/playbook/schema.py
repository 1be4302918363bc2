"""The owner's playbook: questions, scores, texts and reps, validated once at start.

Everything an owner would change lives in this YAML file, never in code. Load it
with :func:`load_playbook`; a bad file raises :class:`PlaybookError` naming the
file, the field and the reason, so start-up stops with a message an owner can act on.
"""

from __future__ import annotations

import re
import string
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
QuestionType = Literal["choice", "yes_no", "number", "money", "postal_code", "text"]

# Placeholders every text may use, besides the question ids.
BASE_PLACEHOLDERS = frozenset({"name", "phone", "business", "booking_url", "resource_url", "rep"})


class PlaybookError(ValueError):
    """The playbook file is missing, not YAML, or breaks the schema; ``str()`` names file, field and reason."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Business(_Model):
    name: str
    timezone: str
    """IANA zone of the business, e.g. ``America/Denver``; the fallback for a lead's local time."""
    help_text: str
    """Sent when a prospect texts HELP or INFO (CTIA short-code guidelines require an answer)."""
    fallback_name: str | None = None
    """``{name}`` when the prospect gave no name; unset, the name is left out ("Hi!", "Thanks!")."""
    resubscribed_text: str = "You're subscribed again to messages from {business}. Reply STOP to opt out."

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class Points(_Model):
    """Score points an answer earns; ``fit`` and ``intent`` are summed separately."""

    fit: int = 0
    intent: int = 0
    estimated_value_usd: float | None = Field(default=None, ge=0)


class Choice(Points):
    value: str
    synonyms: list[str] = []


class Question(_Model):
    id: Identifier
    ask: str
    type: QuestionType
    hint: str | None = None
    """Re-ask prefix when an answer can't be parsed; a sensible one per type by default."""
    choices: list[Choice] = []
    yes: Points | None = None
    no: Points | None = None
    service_area: list[str] = []
    """Postal-code prefixes served (``postal_code`` questions); empty means everywhere."""
    outside_area: Literal["disqualify", "continue"] = "continue"

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


class Grades(_Model):
    A: int = Field(ge=0, le=100)
    B: int = Field(ge=0, le=100)
    C: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Grades:
        if not self.A > self.B > self.C:
            raise ValueError("grade bands must descend: A > B > C")
        return self


class Scoring(_Model):
    engagement_max: int = Field(default=10, ge=0, le=100)
    grades: Grades
    qualify_at: int = Field(ge=0, le=100)
    hot_at: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _hot_above_qualify(self) -> Scoring:
        if self.hot_at < self.qualify_at:
            raise ValueError("hot_at must be at least qualify_at")
        return self


class QualifiedOutcome(_Model):
    message: str
    booking_url: str
    already_text: str = "Your booking link again, {name}: {booking_url}. A rep will reach out too."


class ResourceOutcome(_Model):
    message: str
    resource_url: str
    already_text: str = "Thanks {name}! A member of our team will reach out if we can help."


class Outcomes(_Model):
    qualified: QualifiedOutcome
    nurture: ResourceOutcome
    disqualified: ResourceOutcome


class Rep(_Model):
    name: str
    phone: str
    """E.164; normalised on load."""
    channel: Literal["sms", "whatsapp"] = "sms"

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return to_e164(value)


class FaqEntry(_Model):
    """An off-script question the bot may answer (only these; anything else gets ``replies.faq_unknown``)."""

    id: Identifier
    question: str
    """The question as prospects ask it; shown to the model to recognise it."""
    answer: str


class Replies(_Model):
    """The bot's own texts beyond the questions (used when a model recognises the situation)."""

    faq_unknown: str = "Good question. A member of our team will follow up on that."
    handoff: str = "Thanks {name}. I'm passing you to {rep}, who will reach out to you personally."
    wrong_number: str = "Sorry for the mix-up! We won't text this number again."


class Locale(_Model):
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
    """``faq_unknown`` / ``handoff`` / ``wrong_number`` in this language."""
    hint: str | None = None
    """Prefix of a re-ask in this language (e.g. "Perdón, no entendí.")."""


class Goals(_Model):
    """The owner's targets, shown against the actuals in ``/stats``."""

    qualified_per_month: int | None = Field(default=None, ge=1)
    """Qualified leads wanted per calendar month (business time zone)."""
    first_response_minutes: float = Field(default=5, gt=0)
    """Speed-to-lead promise: a lead's ``first_response_due_at`` is its capture plus this, minutes."""


class RoutingRule(_Model):
    """Give a lead to ``rep`` when its answer to ``question`` is one of ``values`` (else round-robin)."""

    question: str
    values: list[str] = Field(min_length=1)
    """Answer values as stored: a choice's ``value``, ``yes``/``no``, a ZIP prefix for postal codes."""
    rep: str


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"3d"`` → seconds.

    Raises:
        ValueError: not a number followed by one of s, m, h, d.
    """
    match = DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m, 1h or 3d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_clock(text: str) -> tuple[int, int]:
    """``"21:00"`` → (21, 0). Raises ValueError for anything else."""
    match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 08:00 or 21:30")
    return int(match.group(1)), int(match.group(2))


class TimeRange(_Model):
    """A daily span in local time; ``start`` after ``end`` wraps past midnight (21:00–08:00)."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class CallWindow(TimeRange):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)


class Template(_Model):
    """An approved WhatsApp content template: ``ContentSid`` (``HX…``) and its variables (placeholders allowed)."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: dict[str, str] = {}


class Step(_Model):
    """One follow-up touch, ``after`` the lead's capture (scaled by CADENCE_SECONDS_PER_DAY)."""

    id: Identifier
    after: str
    text: str
    whatsapp_template: Template | None = None
    """Sent instead of ``text`` on WhatsApp outside the 24-hour window; without one the step is skipped there."""

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def after_s(self) -> float:
        return parse_duration(self.after)


class Cadence(_Model):
    """Follow-up touches for leads that go quiet (the seeds' day 1, 3, 7, 14 and day-60 reactivation)."""

    quiet_hours: TimeRange = TimeRange(start="21:00", end="08:00")
    """No touch goes out in these hours of the lead's local time (TCPA: 8 am to 9 pm)."""
    call_window: CallWindow = CallWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")
    """When reps are alerted to call hot leads, in the lead's local time."""
    stall_after: str = "1h"
    """A lead silent this long mid-qualification is enrolled."""
    first_touch_template: Template | None = None
    """The business-initiated WhatsApp first touch (WhatsApp allows only templates outside the 24-hour window)."""
    steps: list[Step] = []

    @field_validator("stall_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Cadence:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("step ids must be unique")
        afters = [s.after_s for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of 'after'")
        return self

    @property
    def stall_after_s(self) -> float:
        return parse_duration(self.stall_after)


class Playbook(_Model):
    """A validated playbook. Built by :func:`load_playbook`; immutable."""

    business: Business
    greeting: str
    questions: list[Question] = Field(min_length=1, max_length=8)
    scoring: Scoring
    outcomes: Outcomes
    reps: list[Rep] = Field(min_length=1)
    routing: list[RoutingRule] = []
    goals: Goals = Goals()
    faq: list[FaqEntry] = []
    replies: Replies = Replies()
    locales: dict[Literal["es"], Locale] = {}
    """Other languages the bot speaks (``es``); a prospect writing in one gets the conversation in it."""
    cadence: Cadence = Cadence()

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        for code, locale in self.locales.items():
            for qid in locale.questions:
                if qid not in ids:
                    raise ValueError(f"locales.{code}.questions.{qid} is not a question id; known: {ids}")
            steps = {st.id for st in self.cadence.steps}
            for sid in locale.steps:
                if sid not in steps:
                    raise ValueError(f"locales.{code}.steps.{sid} is not a cadence step id; known: {sorted(steps)}")
            faqs = {f.id for f in self.faq}
            for fid in locale.faq:
                if fid not in faqs:
                    raise ValueError(f"locales.{code}.faq.{fid} is not a faq id; known: {sorted(faqs)}")
        names = [r.name for r in self.reps]
        if len(set(names)) != len(names):
            raise ValueError("rep names must be unique")
        for i, rule in enumerate(self.routing):
            if rule.question not in ids:
                raise ValueError(f"routing.{i}.question {rule.question!r} is not a question id; known: {ids}")
            if rule.rep not in names:
                raise ValueError(f"routing.{i}.rep {rule.rep!r} is not one of the reps: {names}")
        known = BASE_PLACEHOLDERS | set(ids)
        for where, text in self.texts():
            unknown = placeholders(text) - known
            if unknown:
                raise ValueError(f"{where} uses unknown placeholder(s) {sorted(unknown)}; known: {sorted(known)}")
        return self

    def texts(self) -> list[tuple[str, str]]:
        """Every owner-written text with a dotted path naming where it is."""
        out = [("greeting", self.greeting), ("business.help_text", self.business.help_text)]
        out.append(("business.resubscribed_text", self.business.resubscribed_text))
        for i, q in enumerate(self.questions):
            out.append((f"questions.{i}.ask", q.ask))
        for name in ("qualified", "nurture", "disqualified"):
            outcome = getattr(self.outcomes, name)
            out += [(f"outcomes.{name}.message", outcome.message), (f"outcomes.{name}.already_text", outcome.already_text)]
        for i, step in enumerate(self.cadence.steps):
            out.append((f"cadence.steps.{i}.text", step.text))
            if step.whatsapp_template:
                out += [(f"cadence.steps.{i}.whatsapp_template.variables.{k}", v)
                        for k, v in step.whatsapp_template.variables.items()]
        if self.cadence.first_touch_template:
            out += [(f"cadence.first_touch_template.variables.{k}", v)
                    for k, v in self.cadence.first_touch_template.variables.items()]
        out += [(f"faq.{i}.answer", f.answer) for i, f in enumerate(self.faq)]
        out += [(f"replies.{k}", v) for k, v in self.replies.model_dump().items()]
        for code, locale in self.locales.items():
            where = f"locales.{code}"
            out += [(f"{where}.greeting", locale.greeting)] if locale.greeting else []
            out += [(f"{where}.questions.{k}", v) for k, v in locale.questions.items()]
            out += [(f"{where}.outcomes.{o}.{k}", v) for o, texts in locale.outcomes.items() for k, v in texts.items()]
            out += [(f"{where}.{part}.{k}", v) for part in ("steps", "faq", "replies")
                    for k, v in getattr(locale, part).items()]
        return out

    def text(self, path: str, language: str | None = None) -> str:
        """An owner text in ``language`` when the playbook has it, else the default text.

        ``path``: ``greeting``, ``questions.<id>``, ``outcomes.<name>.message``,
        ``outcomes.<name>.already_text``, ``steps.<id>``, ``faq.<id>``, ``replies.<name>``.

        Raises:
            KeyError: no such text.
        """
        locale = self.locales.get(language) if language else None
        head, _, rest = path.partition(".")
        if locale is not None:
            found = None
            if head == "greeting":
                found = locale.greeting
            elif head == "outcomes":
                name, _, key = rest.partition(".")
                found = locale.outcomes.get(name, {}).get(key)
            elif head in ("questions", "steps", "faq", "replies"):
                found = getattr(locale, head).get(rest)
            if found:
                return found
        if head == "greeting":
            return self.greeting
        if head == "questions":
            return next(q.ask for q in self.questions if q.id == rest)
        if head == "outcomes":
            name, _, key = rest.partition(".")
            return getattr(getattr(self.outcomes, name), key)
        if head == "steps":
            return self.step(rest).text
        if head == "faq":
            return next(f.answer for f in self.faq if f.id == rest)
        if head == "replies":
            return getattr(self.replies, rest)
        raise KeyError(path)

    def rep_named(self, name: str | None) -> Rep | None:
        """The rep called ``name`` (case-insensitive), or None."""
        for rep in self.reps:
            if name and rep.name.lower() == name.lower():
                return rep
        return None

    def rep_for_phone(self, phone: str) -> Rep | None:
        """The rep whose phone is ``phone`` (E.164), or None."""
        for rep in self.reps:
            if rep.phone == phone:
                return rep
        return None

    def step(self, step_id: str) -> Step:
        """The cadence step with this id. Raises KeyError when there is none."""
        for step in self.cadence.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def question(self, question_id: str) -> Question:
        """The question with this id. Raises KeyError when there is none."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


def placeholders(text: str) -> set[str]:
    """The ``{field}`` names a template uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


_PHONE_CHARACTERS = re.compile(r"[0-9 +\-.()]+")
"""What a phone number may be written with: ASCII digits, spaces, ``+ - . ( )``."""


def to_e164(raw: str, region: str = "US") -> str:
    """Normalise a phone number to E.164 (``+13035550142``) with phonenumbers.

    Only ASCII digits, spaces and ``+ - . ( )`` are allowed, checked before phonenumbers reads it: phonenumbers
    would read letters as a keypad (``+1619555ABCD`` is ``+16195552223``) and skip a prefix such as
    ``whatsapp:``, so a number someone spelt, or an address of another channel, would reach the wrong person.

    Raises:
        ValueError: the text has other characters, or is not a valid phone number.
    """
    if not isinstance(raw, str) or not _PHONE_CHARACTERS.fullmatch(raw.strip()):
        raise ValueError("not a phone number: only digits, spaces and + - . ( ) are allowed")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 (PyYAML's default) reads ``yes``/``no``/``on``/``off`` as booleans, which
    would turn the playbook's ``yes:``/``no:`` keys into True/False.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_playbook(path: str | Path) -> Playbook:
    """Read and validate the playbook at ``path``.

    Raises:
        PlaybookError: unreadable file, invalid YAML, or a schema violation; the message
            names the file, the dotted field path and the reason of each problem.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise PlaybookError(f"{path}: cannot read playbook: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PlaybookError(f"{path}: the playbook must be a mapping at the top level")
    try:
        return Playbook.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{path}: {field}: {err['msg']}")
        raise PlaybookError("invalid playbook\n" + "\n".join(problems)) from None
