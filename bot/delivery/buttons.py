"""Questions answered by tapping on WhatsApp: each tappable question's content template, creating them at Twilio
(``leadline content sync``), and the template a question's message goes out with.

A question :func:`graph.buttons.layout` offers as buttons (a ``choice`` of up to 10 answers, or ``yes_no``) becomes
one Content API template per language the playbook speaks (:func:`template_for`): quick-reply buttons for up to 3
answers, a list picker for more, each answer's id its ``graph.buttons`` payload (``service_type:repair``). The
template's body is ``{{1}}``, filled with the message's own text when it is sent, so the text may carry a hint or a
confirmation before the question. :func:`sync` creates what is missing and records each SID by the definition's
hash (``store.content_templates``); :func:`content_sid_for` finds the SID for the question as it stands now, so a
question changed since the last sync goes out as plain text (its numbered choices are in the text) until the
next sync. Outside WhatsApp's 24-hour window none of this applies: a reply always answers a message inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from bot.twilio.content import Choice, ContentTemplate, content_exists, create_content
from graph.buttons import buttons, layout
from graph.playbook import Playbook, Question
from graph.playbook.answers import confirmation
from graph.texts import render
from store import content_templates

PICKER_BUTTONS = {"en": "Choose", "es": "Elegir"}
"""The list picker's button (it opens the menu) by language; other languages get English's."""


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did: templates created at Twilio now (``replaced`` of them in place of a recorded one Twilio
    no longer has), and those already there."""

    created: int
    kept: int
    replaced: int = 0


def template_for(playbook: Playbook, question: Question, language: str | None = None) -> ContentTemplate | None:
    """The content template of ``question`` in ``language`` (a ``locales`` key; None: the playbook's own), or None
    when it has no answers to tap (``graph.buttons.layout``)."""
    kind = layout(question)
    if kind is None:
        return None
    code = language or playbook.business.language
    sample = render(playbook.text(f"questions.{question.id}", language), business=playbook.business.name,
                    name=playbook.business.fallback_name)
    choices = tuple(Choice(id=b.id, title=b.title,
                           description=confirmation(playbook, question, b.id.partition(":")[2], language))
                    for b in buttons(playbook, question, language))
    return ContentTemplate(name=f"leadline_{question.id}_{code}", language=code, sample=sample, layout=kind,
                           choices=choices, picker_button=PICKER_BUTTONS.get(code, PICKER_BUTTONS["en"]))


def every_template(playbook: Playbook) -> Iterator[tuple[Question, str | None, ContentTemplate]]:
    """``(question, language, template)`` for each tappable question in each language the playbook speaks (None,
    its own, then each of ``locales``)."""
    for question in playbook.questions:
        for language in (None, *playbook.locales):
            template = template_for(playbook, question, language)
            if template is not None:
                yield question, language, template


def sync(sessions: sessionmaker[Session], client: Client, playbook: Playbook) -> SyncReport:
    """Create at Twilio every template of :func:`every_template` that Twilio does not have yet, recording each SID as
    soon as Twilio gives it (a sync stopped halfway keeps what it made; running it again makes the rest).

    A recorded template is looked up at Twilio first (one fetch each) and kept when it is there; one Twilio no
    longer has (deleted, or made on another account, such as an earlier sandbox) is made again.

    Raises:
        bot.errors.ContentRefused: Twilio refused a template (its message names the template and the reason), or
            could not be reached.
    """
    created = kept = replaced = 0
    for question, language, template in every_template(playbook):
        with sessions() as session:
            known = content_templates.content_sid(session, definition_hash=template.fingerprint)
        if known is not None and content_exists(client, known):
            kept += 1
            continue
        sid = create_content(client, template)
        with sessions.begin() as session:
            content_templates.record(session, definition_hash=template.fingerprint, content_sid=sid,
                                     friendly_name=template.friendly_name, question_id=question.id, language=language)
        created += 1
        replaced += known is not None
    return SyncReport(created=created, kept=kept, replaced=replaced)


def content_sid_for(session: Session, playbook: Playbook, *, channel: str, question_id: str | None,
                    language: str | None) -> str | None:
    """The ``ContentSid`` a message asking ``question_id`` (the graph's ``asking``) goes with, or None: plain text
    (SMS, where the choices are numbered in the text; a question with nothing to tap; or its template as it stands
    now was never synced)."""
    if channel != "whatsapp" or question_id is None:
        return None
    try:
        question = playbook.question(question_id)
    except KeyError:
        return None
    template = template_for(playbook, question, language)
    return None if template is None else content_templates.content_sid(session, definition_hash=template.fingerprint)


def with_buttons(content_sid: str | None, text: str) -> dict[str, Any]:
    """The outbox fields (``store.outbox.add_outbound``) of a message ``text`` sent as the content template
    ``content_sid`` (the text fills ``{{1}}``), or none for plain text. The row keeps ``text`` as its body too, for
    the timeline and the dashboard; Twilio is sent the template instead of a body (``MessageClient.send``)."""
    return {"content_sid": content_sid, "content_variables": {"1": text}} if content_sid else {}
