"""A message as the readers see it: folded to plain lower-case words, with the clauses they fall in."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

CLAUSE_BREAKS = re.compile(r"[.,;:!?\n()]+|\s+-\s+|\b(?:but|pero|sino|though|however)\b")
"""Where one clause ends and the next begins: punctuation, and the words that set a contrast
("not a repair, a full replacement", "not a repair but a replacement")."""
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'"})


@dataclass(frozen=True)
class Word:
    """One word of a folded message: its text, its index among the message's words, and its clause's index."""

    text: str
    index: int
    clause: int


def fold(text: str) -> str:
    """``text`` in lower case with accents, emoji and symbols dropped and curly apostrophes made straight:
    "¡Sí, es MÍA 🏠!" → "¡si, es mia !" (punctuation stays: it ends clauses)."""
    text = unicodedata.normalize("NFKC", text or "").translate(_QUOTES).lower()
    plain = unicodedata.normalize("NFD", text)
    kept = [c for c in plain if not unicodedata.combining(c) and unicodedata.category(c)[0] not in "SC"]
    return unicodedata.normalize("NFC", "".join(kept))


def words(text: str) -> tuple[Word, ...]:
    """The folded words of ``text`` in order, each with the index of its clause."""
    out: list[Word] = []
    for clause, part in enumerate(CLAUSE_BREAKS.split(fold(text))):
        for match in _WORD.finditer(part):
            out.append(Word(match.group(0), len(out), clause))
    return tuple(out)


@lru_cache(maxsize=4096)
def phrase_words(phrase: str) -> tuple[str, ...]:
    """A playbook phrase as folded words: "It's MINE" → ("it's", "mine")."""
    return tuple(m.group(0) for m in _WORD.finditer(fold(phrase)))
