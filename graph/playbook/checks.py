"""Checks across a playbook's sections: unique ids and names, known references, known placeholders.

Each raises ``ValueError`` naming the dotted path of the offending field; pydantic turns it into a
validation error of the whole playbook, and :func:`graph.playbook.load_playbook` into a ``PlaybookError``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from graph.playbook.answers import answer_keys

if TYPE_CHECKING:
    from graph.playbook.root import Playbook

BASE_PLACEHOLDERS = frozenset({"name", "phone", "business", "booking_url", "resource_url", "rep"})
"""Placeholders every text may use, besides the question ids."""
OWN_PLACEHOLDERS = {"confirm": frozenset({"answer"}), "replies.understood": frozenset({"understood"})}
"""Placeholders only some texts may use, by the end of their path: a confirmation clause names ``{answer}``,
``replies.understood`` the clauses (``{understood}``)."""


def placeholders(text: str) -> set[str]:
    """The ``{field}`` names a template uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def unique(what: str, values: Sequence[str]) -> None:
    """Raises ValueError ("``what`` must be unique") when ``values`` repeat one."""
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique")


def known_keys(where: str, keys: Iterable[str], known: list[str], kind: str) -> None:
    """Raises ValueError naming ``where.<key>`` for the first of ``keys`` not in ``known`` (each a ``kind``)."""
    for key in keys:
        if key not in known:
            raise ValueError(f"{where}.{key} is not a {kind}; known: {known}")


def locale_references(playbook: Playbook) -> None:
    """Every locale translates only questions, cadence steps and FAQ entries the playbook has.

    Raises:
        ValueError: ``locales.<code>.<part>.<id>`` names none of them.
    """
    question_ids = [q.id for q in playbook.questions]
    step_ids = sorted({st.id for st in playbook.cadence.steps})
    faq_ids = sorted({f.id for f in playbook.faq})
    for code, locale in playbook.locales.items():
        known_keys(f"locales.{code}.questions", locale.questions, question_ids, "question id")
        known_keys(f"locales.{code}.steps", locale.steps, step_ids, "cadence step id")
        known_keys(f"locales.{code}.faq", locale.faq, faq_ids, "faq id")
        known_keys(f"locales.{code}.confirm", locale.confirm, question_ids, "question id")
        known_keys(f"locales.{code}.answers", locale.answers, question_ids, "question id")
        for qid, answers in locale.answers.items():
            keys = [key for key, _ in answer_keys(playbook.question(qid))]
            known_keys(f"locales.{code}.answers.{qid}", answers, keys, "fixed answer (a choice's value, yes or no)")


def routing_references(playbook: Playbook) -> None:
    """Every routing rule names a question and a rep the playbook has.

    Raises:
        ValueError: ``routing.<i>.question`` or ``routing.<i>.rep`` is unknown.
    """
    ids = [q.id for q in playbook.questions]
    names = [r.name for r in playbook.reps]
    for i, rule in enumerate(playbook.routing):
        if rule.question not in ids:
            raise ValueError(f"routing.{i}.question {rule.question!r} is not a question id; known: {ids}")
        if rule.rep not in names:
            raise ValueError(f"routing.{i}.rep {rule.rep!r} is not one of the reps: {names}")


def known_placeholders(playbook: Playbook) -> None:
    """Every owner text uses only :data:`BASE_PLACEHOLDERS` and question ids.

    Raises:
        ValueError: a text uses another placeholder (a typo such as ``{nmae}`` would otherwise render empty).
    """
    known = BASE_PLACEHOLDERS | {q.id for q in playbook.questions}
    for where, text in playbook.texts():
        own = [extra for end, extra in OWN_PLACEHOLDERS.items() if where.endswith(end) or f".{end}." in where]
        unknown = placeholders(text) - known.union(*own)
        if unknown:
            raise ValueError(f"{where} uses unknown placeholder(s) {sorted(unknown)}; known: {sorted(known)}")
