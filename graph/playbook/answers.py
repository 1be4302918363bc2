"""How each answer of a question is said: its key, button title, confirmation and synonyms, per language.

A ``choice`` question's answers are its choices (key = the choice's value); a ``yes_no`` question's are
``yes`` (stored True) and ``no`` (stored False). Other types have no fixed answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graph.playbook.root import Playbook
    from graph.playbook.schema import Answer, LocaleAnswer, Question

YES_NO = (("yes", True), ("no", False))


def answer_keys(question: Question) -> list[tuple[str, Any]]:
    """``(key, stored value)`` of each fixed answer, in the question's order; [] for open types."""
    if question.type == "choice":
        return [(c.value, c.value) for c in question.choices]
    if question.type == "yes_no":
        return list(YES_NO)
    return []


def key_of(question: Question, value: Any) -> str | None:
    """The answer key of a stored value (``True`` → ``yes``), or None when it is not a fixed answer."""
    return next((key for key, stored in answer_keys(question) if stored == value and type(stored) is type(value)), None)


def answer_of(question: Question, key: str) -> Answer | None:
    """The playbook's section for answer ``key`` (a choice, or the ``yes``/``no`` block), if written."""
    if question.type == "choice":
        return next((c for c in question.choices if c.value == key), None)
    if question.type == "yes_no":
        return question.yes if key == "yes" else question.no if key == "no" else None
    return None


def label(playbook: Playbook, question: Question, key: str, language: str | None = None) -> str:
    """The answer's button title in ``language`` (else the default language): its ``label``, or the key capitalised."""
    localized = _localized(playbook, question, key, language)
    own = answer_of(question, key)
    return (localized.label if localized and localized.label else None) or (own.label if own and own.label else None) \
        or key.replace("_", " ").capitalize()


def confirmation(playbook: Playbook, question: Question, key: str, language: str | None = None) -> str:
    """How the bot names answer ``key`` when confirming it: its ``confirm``, else its label."""
    localized = _localized(playbook, question, key, language)
    if localized and localized.confirm:
        return localized.confirm
    own = answer_of(question, key)
    if own and own.confirm and (localized is None or not localized.label):
        return own.confirm
    return label(playbook, question, key, language).lower()


def synonyms(playbook: Playbook, question: Question, key: str) -> list[str]:
    """Every phrasing of answer ``key`` in every language the playbook speaks: the key itself and its labels
    (for choices), its synonyms and each locale's."""
    own = answer_of(question, key)
    choice = question.type == "choice"
    words = [key] if choice else []
    words += own.synonyms if own else []
    words += [own.label] if choice and own and own.label else []  # the button's title typed: "Leak or repair"
    for locale in playbook.locales.values():
        found = locale.answers.get(question.id, {}).get(key)
        words += (found.synonyms + ([found.label] if choice and found.label else [])) if found else []
    return words


def plain_words(playbook: Playbook, key: str) -> list[str]:
    """Plain yes (``key="yes"``) or no in every locale the playbook speaks ("sí", "claro"); English's are built in."""
    out: list[str] = []
    for locale in playbook.locales.values():
        out += locale.yes_words if key == "yes" else locale.no_words
    return out


def _localized(playbook: Playbook, question: Question, key: str, language: str | None) -> LocaleAnswer | None:
    locale = playbook.locale(language)
    return None if locale is None else locale.answers.get(question.id, {}).get(key)
