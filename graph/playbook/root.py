"""The Playbook root model: every section together, checked against each other, with lookups by id."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from graph.playbook import checks, owner_texts
from graph.playbook.base import Model
from graph.playbook.cadence import Cadence, Step
from graph.playbook.schema import (
    Business,
    FaqEntry,
    Goals,
    Locale,
    Outcomes,
    Question,
    Rep,
    Replies,
    RoutingRule,
    Scoring,
)


class Playbook(Model):
    """A validated playbook. Built by :func:`graph.playbook.load_playbook`; immutable.

    Besides each section's own rules, the sections must agree: ids and rep names unique,
    locales and routing rules naming only questions, steps, FAQ entries and reps that exist,
    and every text using only known placeholders (:mod:`graph.playbook.checks`).
    """

    business: Business
    greeting: str
    questions: list[Question] = Field(min_length=1, max_length=8)
    """Asked in this order."""
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
        checks.unique("question ids", [q.id for q in self.questions])
        checks.locale_references(self)
        checks.unique("rep names", [r.name for r in self.reps])
        checks.routing_references(self)
        checks.known_placeholders(self)
        return self

    def texts(self) -> list[tuple[str, str]]:
        """Every owner-written text with a dotted path naming where it is, e.g. ``("questions.0.ask", "…")``."""
        return owner_texts.every_text(self)

    def text(self, path: str, language: str | None = None) -> str:
        """An owner text in ``language`` when the playbook has it, else the default text.

        ``path``: ``greeting``, ``questions.<id>``, ``confirm.<question id>``, ``outcomes.<name>.message``,
        ``outcomes.<name>.already_text``, ``steps.<id>``, ``faq.<id>``, ``replies.<name>``.

        Raises:
            KeyError: no such text.
        """
        return owner_texts.text_at(self, path, language)

    def locale(self, language: str | None) -> Locale | None:
        """The texts in ``language`` (``es``), or None when the playbook has none in it (or ``language`` is None)."""
        return next((locale for code, locale in self.locales.items() if code == language), None)

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

    def faq_entry(self, faq_id: str) -> FaqEntry:
        """The FAQ entry with this id. Raises KeyError when there is none."""
        for entry in self.faq:
            if entry.id == faq_id:
                return entry
        raise KeyError(faq_id)
