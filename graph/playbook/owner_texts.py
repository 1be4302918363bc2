"""The owner's texts in a playbook: every one with its dotted path, and one looked up by path and language."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.playbook.root import Playbook
    from graph.playbook.schema import Locale, QualifiedOutcome, ResourceOutcome

OUTCOMES = ("qualified", "nurture", "disqualified")
LOCALE_PARTS = ("questions", "steps", "faq", "replies", "confirm")
"""The parts of a locale that map an id (or a reply name) to a text."""

Located = list[tuple[str, str]]
"""``(dotted path, text)`` pairs, e.g. ``("questions.0.ask", "What do you need?")``."""


def outcome_named(playbook: Playbook, name: str) -> QualifiedOutcome | ResourceOutcome:
    """The outcome ``qualified``, ``nurture`` or ``disqualified``.

    Raises:
        KeyError: no outcome has that name.
    """
    outcomes = playbook.outcomes
    by_name: dict[str, QualifiedOutcome | ResourceOutcome] = {
        "qualified": outcomes.qualified, "nurture": outcomes.nurture, "disqualified": outcomes.disqualified}
    return by_name[name]


def every_text(playbook: Playbook) -> Located:
    """Every owner-written text with a dotted path naming where it is (placeholders unfilled)."""
    return _conversation_texts(playbook) + _cadence_texts(playbook) + _reply_texts(playbook) + [
        text for code, locale in playbook.locales.items() for text in _locale_texts(f"locales.{code}", locale)]


def _conversation_texts(playbook: Playbook) -> Located:
    out = [("greeting", playbook.greeting), ("business.help_text", playbook.business.help_text),
           ("business.resubscribed_text", playbook.business.resubscribed_text)]
    out += [(f"questions.{i}.ask", q.ask) for i, q in enumerate(playbook.questions)]
    out += [(f"questions.{i}.confirm", q.confirm) for i, q in enumerate(playbook.questions)]
    for name in OUTCOMES:
        outcome = outcome_named(playbook, name)
        out += [(f"outcomes.{name}.message", outcome.message), (f"outcomes.{name}.already_text", outcome.already_text)]
    return out


def _reply_texts(playbook: Playbook) -> Located:
    replies: dict[str, str] = playbook.replies.model_dump()
    return [(f"faq.{i}.answer", f.answer) for i, f in enumerate(playbook.faq)] + [
        (f"replies.{k}", v) for k, v in replies.items()]


def _cadence_texts(playbook: Playbook) -> Located:
    out: Located = []
    for i, step in enumerate(playbook.cadence.steps):
        out.append((f"cadence.steps.{i}.text", step.text))
        if step.whatsapp_template:
            out += [(f"cadence.steps.{i}.whatsapp_template.variables.{k}", v)
                    for k, v in step.whatsapp_template.variables.items()]
    if playbook.cadence.first_touch_template:
        out += [(f"cadence.first_touch_template.variables.{k}", v)
                for k, v in playbook.cadence.first_touch_template.variables.items()]
    return out


def _locale_texts(where: str, locale: Locale) -> Located:
    out = [(f"{where}.greeting", locale.greeting)] if locale.greeting else []
    out += [(f"{where}.questions.{k}", v) for k, v in locale.questions.items()]
    out += [(f"{where}.outcomes.{o}.{k}", v) for o, texts in locale.outcomes.items() for k, v in texts.items()]
    return out + [(f"{where}.{part}.{k}", v) for part in ("steps", "faq", "replies", "confirm")
                  for k, v in _locale_part(locale, part).items()]


def _locale_part(locale: Locale, part: str) -> dict[str, str]:
    by_part = {"questions": locale.questions, "steps": locale.steps, "faq": locale.faq, "replies": locale.replies,
               "confirm": locale.confirm}
    return by_part[part]


def text_at(playbook: Playbook, path: str, language: str | None = None) -> str:
    """An owner text in ``language`` when the playbook has it, else the default text.

    ``path``: ``greeting``, ``questions.<id>``, ``confirm.<question id>``, ``outcomes.<name>.message``,
    ``outcomes.<name>.already_text``, ``steps.<id>``, ``faq.<id>``, ``replies.<name>``.

    Raises:
        KeyError: no such text.
    """
    locale = playbook.locale(language)
    found = _localized(locale, path) if locale is not None else None
    return found or _default(playbook, path)


def _localized(locale: Locale, path: str) -> str | None:
    """The locale's text at ``path``; None (or "") when it has none, so the default applies."""
    head, _, rest = path.partition(".")
    if head == "greeting":
        return locale.greeting
    if head == "outcomes":
        name, _, key = rest.partition(".")
        return locale.outcomes.get(name, {}).get(key)
    if head in LOCALE_PARTS:
        return _locale_part(locale, head).get(rest)
    return None


def _default(playbook: Playbook, path: str) -> str:
    head, _, rest = path.partition(".")
    if head == "greeting":
        return playbook.greeting
    if head == "questions":
        return playbook.question(rest).ask
    if head == "outcomes":
        name, _, key = rest.partition(".")
        outcome = outcome_named(playbook, name)
        texts = {"message": outcome.message, "already_text": outcome.already_text}
        return texts[key]
    if head == "steps":
        return playbook.step(rest).text
    if head == "confirm":
        return playbook.question(rest).confirm
    if head == "faq":
        return playbook.faq_entry(rest).answer
    if head == "replies":
        replies: dict[str, str] = playbook.replies.model_dump()
        return replies[rest]
    raise KeyError(path)
