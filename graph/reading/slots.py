"""One reader per question type: what a message says to one question, read from the playbook's own words.

Every reader reads free text (the question need not be the one just asked) except where it is noted that a
reading needs the question to be *pending*, i.e. just asked: a bare position ("2"), a bare yes or no, an
amount, free text. Two different readings of one question are no reading: it is marked ambiguous and asked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from text_to_num import alpha2digit

from graph.parsing import NUMBER_LANGUAGES, in_service_area, parse_answer
from graph.playbook import Playbook, Question
from graph.playbook.answers import answer_keys, plain_words, synonyms
from graph.reading.mentions import counted, find
from graph.reading.text import Word, fold

PLAIN_YES = ("yes", "y", "yeah", "yea", "yep", "yup", "ya", "yah", "yess", "sure", "correct", "right", "affirmative",
             "absolutely", "definitely", "indeed", "ok", "okay", "true", "i am", "i do", "we are", "we do", "it is",
             "that's me", "thats me", "of course", "you bet")
"""A plain yes in English, read only as the answer to a pending yes/no question (the locales add their own)."""
PLAIN_NO = ("no", "n", "nope", "nah", "not", "negative", "i'm not", "im not", "i am not", "we're not", "we are not",
            "it's not", "it isn't", "false", "no way")
"""A plain no in English, read only as the answer to a pending yes/no question."""
PAST = ("last week", "last month", "last year", "last night", "last spring", "last summer", "last winter", "ago",
        "weeks ago", "months ago", "years ago", "a month ago", "a week ago", "a year ago", "since yesterday",
        "el mes pasado", "la semana pasada", "el ano pasado", "hace un mes", "hace una semana", "hace un ano")
"""Time that has passed ("it started leaking last month"): a mention inside one of these says when something
happened, not when the prospect wants the work, and is not read as any choice."""
WHEN_WORDS = frozenset({"today", "tonight", "tomorrow", "now", "right now", "this week", "next week", "next month",
                        "this month", "soon", "hoy", "manana", "ahora", "esta semana", "este mes"})
"""Words that say *when* but not always when the work is wanted ("started leaking today", "we close next month"):
in free text (not the answer to the question just asked) of more than :data:`BARE_WORDS` words they are read
only beside a request (:data:`REQUESTS`)."""
REQUESTS = frozenset({"need", "needs", "needed", "want", "wants", "like", "come", "out", "fix", "fixed", "replace",
                      "get", "schedule", "book", "available", "can", "could", "asap", "please", "pls", "done",
                      "quote", "estimate", "within", "by", "works", "fine", "possible", "necesito", "necesitamos",
                      "quiero", "queremos", "puede", "pueden", "vengan", "venir", "arreglen", "mismo", "por"})
BARE_WORDS = 3
UNSURE = ("not sure", "unsure", "idk", "i don't know", "i dont know", "dunno", "depends", "no se", "no estoy seguro",
          "no estoy segura")
"""Said to a pending yes/no question, these make it no reading at all, whatever else the message says."""

_POSITION = re.compile(
    r"\W*(?:(?:the|la|el|lo)\s+)?(?:(?:option|opcion|number|numero|num|choice|no|#)\.?\s*)?#?(\d{1,2})"
    r"(?:st|nd|rd|th|o|a|\u00ba|\u00aa)?(?:\s+(?:1|one|option|opcion|please|pls|plz|por favor|thanks|gracias))?\W*")
_LEADING_POSITION = re.compile(r"\W*(\d)\s*(?:[-,.):]|and\b|y\b).*", re.DOTALL)
"""A position opening a longer reply: "2 - and yes I'm the owner"."""
_SMALL_NUMBER = re.compile(r"(?<!\d)\d{1,2}(?!\d)")
"""Another small number after a leading position makes it unsure ("1-2 months"); a ZIP code after it does not."""
_ZIP = re.compile(r"(?<![\d$#.,])(?<!\d-)(\d{5})(?:-\d{4})?(?!\d|,\d|\.\d|-\d|\s*k\b)", re.ASCII)
_SPACED_ZIP = re.compile(r"(?<![\d-])(\d(?:[\s-]\d){4})(?![\d]|-\d)", re.ASCII)
_DIGIT_GROUPS = re.compile(r"(?<![\d])(\d{1,4}(?:[\s,-]+\d{1,4}){1,4})(?![\d])", re.ASCII)
"""Digits said in groups, as text2num writes spoken ones ("ocho cero dos uno nueve" → "8 02 1 9")."""
_SPOKEN_ZERO = re.compile(r"(?<=\d)\s+(?:oh|o)(?=\s+\d)|^(?:oh|o)(?=\s+\d)")
_MONEY_BEFORE = re.compile(r"(?:\b(?:budget|cost|costs|price|spend|pay|paid|presupuesto|precio)\s*(?:is|of|around|about|"
                           r"roughly|under|up to|like|maybe|de|es|:)?\s*(?:around|about)?\s*|\$\s*)$")
_MONEY_AFTER = re.compile(r"^\s*(?:dollars|bucks|usd|dolares|pesos|sq|square|ft|feet|sqft|m2|metros)\b")
_ADDRESS_AFTER = re.compile(
    r"^\s+(?:[nsew]\.?\s+)?(?:\w+\s+){1,3}(?:st|street|ave|avenue|rd|road|dr|drive|ln|lane|blvd|way|ct|court|pl|place|"
    r"cir|circle|pkwy|parkway|hwy|highway|trl|trail|calle|avenida)\b")


_PAST_KEY = "\x00past"


@dataclass(frozen=True)
class SlotReading:
    """What a message says to one question: ``value`` (None: nothing read), or ``ambiguous`` (two readings)."""

    value: Any = None
    ambiguous: bool = False

    @property
    def read(self) -> bool:
        return self.value is not None


NOTHING = SlotReading()


def settle(values: set[Any]) -> SlotReading:
    """One reading from the values a message gave: the value when there is one, ambiguous when several."""
    if len(values) == 1:
        return SlotReading(value=values.pop())
    return SlotReading(ambiguous=len(values) > 1)


def read_choice(playbook: Playbook, question: Question, text: str, words: tuple[Word, ...], *, pending: bool) -> SlotReading:
    """The choice the message names by a value or synonym (any language); a bare position ("2", "option two",
    "la segunda") only when ``pending``."""
    phrases = {key: [s for s in synonyms(playbook, question, key) if not s.strip().isdigit()]
               for key, _ in answer_keys(question)}
    mentions = [m for m in find(words, {**phrases, _PAST_KEY: list(PAST)}) if m.key != _PAST_KEY
                and (pending or not _time_of_event(words, m.start, m.end))]
    named = settle({m.key for m in counted(mentions)})
    if named.read and any(m.hedged and not m.negated and m.key != named.value for m in mentions):
        return SlotReading(ambiguous=True)  # "hail damage, might need a new roof": it is not settled
    if named.read or named.ambiguous or not pending:
        return named
    position = _position(text)
    if position is not None and 1 <= position <= len(question.choices):
        return SlotReading(value=question.choices[position - 1].value)
    return NOTHING


def read_yes_no(playbook: Playbook, question: Question, words: tuple[Word, ...], *, pending: bool) -> SlotReading:
    """Yes or no from the question's own phrasings ("we own it", "I rent"), a negated one meaning the opposite
    ("I'm not the owner" is no); a plain yes or no ("yep", "nope", "sí") only when ``pending``."""
    phrases = {key: synonyms(playbook, question, key) for key in ("yes", "no")}
    values = {(m.key == "yes") != m.negated for m in find(words, phrases) if not m.hedged}
    if values:  # the question's own phrasings say more than a plain yes or no ("no I don't rent, it's mine")
        return settle(values)
    if pending:
        if find(words, {"unsure": list(UNSURE)}, threshold=101):
            return SlotReading(ambiguous=True)
        plain = {"yes": [*PLAIN_YES, *plain_words(playbook, "yes")], "no": [*PLAIN_NO, *plain_words(playbook, "no")]}
        values |= {m.key == "yes" for m in find(words, plain, threshold=101) if not m.hedged
                   and not (m.negated and m.key == "yes")}
    return settle(values)


def read_postal_code(question: Question, text: str) -> SlotReading:
    """The US ZIP code anywhere in the message (5 digits, "+4" allowed, "8 0 2 0 3" too), leaving out street
    numbers ("12345 W Colfax Ave") and amounts ("budget 12000", "$15000"); several different ones are ambiguous."""
    plain = unicodedata.normalize("NFKC", text or "").lower()  # "$" and "#" kept: they mark amounts and numbers
    codes = {m.group(1) for m in _ZIP.finditer(plain) if not _other_number(plain, m.start(), m.end())}
    codes |= {re.sub(r"\D", "", m.group(1)) for m in _SPACED_ZIP.finditer(plain)}
    folded = fold(text)
    if not codes and not re.search(r"\d", plain):  # "eight oh two oh three", "ocho cero dos uno nueve": text2num
        for lang in NUMBER_LANGUAGES:
            spoken = _SPOKEN_ZERO.sub(" 0", alpha2digit(folded, lang, threshold=0))
            codes |= {digits for m in _DIGIT_GROUPS.finditer(spoken) if len(digits := re.sub(r"\D", "", m.group(1))) == 5}
    return settle(codes)


def read_open(question: Question, text: str, *, pending: bool) -> SlotReading:
    """An amount, a number or free text: read only as the answer to the pending question."""
    if not pending:
        return NOTHING
    parsed = parse_answer(question, text)
    return SlotReading(value=parsed.value) if parsed.ok else NOTHING


def out_of_area(question: Question, value: Any) -> bool:
    """Whether a read ZIP code lies outside the question's service area."""
    return value is not None and not in_service_area(question, str(value))


def _time_of_event(words: tuple[Word, ...], start: int, end: int) -> bool:
    """The mention is one of :data:`WHEN_WORDS` with no request in its clause, in a message longer than a bare answer."""
    said = " ".join(w.text for w in words[start:end])
    if said not in WHEN_WORDS or len(words) <= BARE_WORDS:
        return False
    clause = words[start].clause
    return not any(w.text in REQUESTS for w in words if w.clause == clause)


def _position(text: str) -> int | None:
    folded = fold(text).strip()
    for candidate in (folded, *(alpha2digit(folded, lang, threshold=0) for lang in NUMBER_LANGUAGES)):
        match = _POSITION.fullmatch(candidate)
        if match:
            return int(match.group(1))
        match = _LEADING_POSITION.fullmatch(candidate)
        if match and not _SMALL_NUMBER.search(candidate[match.end(1):]):  # "1-2 months", "2. actually no, 3"
            return int(match.group(1))
    return None


def _other_number(text: str, start: int, end: int) -> bool:
    """A 5-digit number that is an amount or a street number, not a ZIP code."""
    return bool(_MONEY_BEFORE.search(text[:start]) or _MONEY_AFTER.match(text[end:]) or _ADDRESS_AFTER.match(text[end:]))
