"""Finding the playbook's phrases in a message: exactly or with a typo, and whether each mention counts.

A mention does not count when it is negated ("not a repair", "I don't rent", "no es una reparación") or
hedged ("maybe a replacement", "repair or replacement") within its clause. Typos are forgiven with
``rapidfuzz``, word by word: a word of at least :data:`FUZZY_MIN_LETTERS` letters matches a written word whose
similarity (``fuzz.ratio``, 0–100) is at least :data:`FUZZY_THRESHOLD` and that starts with the same letter.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from graph.reading.text import Word, phrase_words

FUZZY_THRESHOLD = 88.0
"""Lowest ``rapidfuzz.fuzz.ratio`` (0–100) at which a misspelt word is read as the playbook's: "replacment"
(95), "inspecton" (95), "reparcion" (95) match; "leaving" for "leaking" (86) and "manage" for "damage" (83)
do not. bench/eval_extraction.py ``--sweep`` shows right and wrong readings at each threshold."""
FUZZY_MIN_LETTERS = 6
"""Shorter words match exactly only: one letter off turns "leak" into "leek", but also "today" into "toda" (Spanish
"all") and "rent" into "rant"."""
NEGATION_REACH = 4
"""A negation this many words or fewer before a mention, in its clause, negates it."""

NEGATIONS = frozenset({
    "not", "no", "never", "dont", "don't", "doesnt", "doesn't", "isnt", "isn't", "arent", "aren't", "wasnt",
    "wasn't", "aint", "ain't", "without", "nor", "neither", "than", "ni", "sin", "nunca", "tampoco", "nada",
})
"""Words that negate what follows in the clause (English and Spanish, folded: accents dropped)."""
ANSWERING_NO = frozenset({"i", "im", "i'm", "we", "we're", "were", "it", "its", "it's", "my", "our", "the", "that",
                          "thats", "that's", "just", "actually", "thanks", "sorry", "he", "she", "they", "mine", "ours"})
"""After these words, a message-opening "no" answers the question ("no i rent", "no the landlord owns it")
instead of negating what follows ("no leak", "no es mía", "no soy el dueño")."""
NEGATING_PHRASES = (("instead", "of"), ("rather", "than"), ("en", "vez", "de"), ("en", "lugar", "de"))
HEDGES = frozenset({"maybe", "might", "possibly", "perhaps", "either", "or", "unless", "depends", "idk", "guess",
                    "quizas", "quiza", "tal", "unsure", "wondering", "whether", "o"})
"""Words that make a mention in the same clause uncertain: it is not read (the question is asked instead)."""


@dataclass(frozen=True)
class Mention:
    """One phrase found in a message: which answer it names, where, and whether it counts."""

    key: str
    """The answer it names (a choice's value, ``yes``, ``no``)."""
    start: int
    end: int
    """Word indexes: ``words[start:end]`` is the mention."""
    negated: bool = False
    hedged: bool = False
    exact: bool = True


def find(words: tuple[Word, ...], phrases: dict[str, list[str]], *, threshold: float | None = None) -> list[Mention]:
    """Every mention in ``words`` of ``phrases`` (answer key → its phrasings); a mention inside a longer one
    ("urgent" in "not urgent", "soon" in "as soon as possible") is dropped for the longer. ``threshold``:
    the typo threshold (default :data:`FUZZY_THRESHOLD`; over 100, exact words only)."""
    threshold = FUZZY_THRESHOLD if threshold is None else threshold
    found: list[Mention] = []
    for key, options in phrases.items():
        for phrase in options:
            target = phrase_words(phrase)
            if target:
                found += [_judged(words, key, start, len(target), exact)
                          for start, exact in _occurrences(words, target, threshold)]
    return [m for m in found if not any(_shadowed(m, other) for other in found)]


def counted(mentions: list[Mention]) -> list[Mention]:
    """The mentions that state something: neither negated nor hedged."""
    return [m for m in mentions if not m.negated and not m.hedged]


def _occurrences(words: tuple[Word, ...], target: tuple[str, ...], threshold: float) -> list[tuple[int, bool]]:
    """``(start, exact)`` of each place ``target`` occurs: word for word, or with typos in its longer words."""
    size, texts = len(target), [w.text for w in words]
    out = []
    for start in range(len(texts) - size + 1):
        window = texts[start:start + size]
        if window == list(target):
            out.append((start, True))
        elif all(_alike(seen, wanted, threshold) for seen, wanted in zip(window, target, strict=True)):
            out.append((start, False))
    return out


def _alike(seen: str, wanted: str, threshold: float) -> bool:
    """One word read as another: the same, or a typo of a word of :data:`FUZZY_MIN_LETTERS` letters or more
    that keeps its first letter and scores at least ``threshold``."""
    if seen == wanted:
        return True
    return len(wanted) >= FUZZY_MIN_LETTERS and seen[:1] == wanted[:1] and not seen.isdigit() \
        and fuzz.ratio(seen, wanted) >= threshold


def _judged(words: tuple[Word, ...], key: str, start: int, size: int, exact: bool) -> Mention:
    clause = words[start].clause
    before = [w.text for w in words[max(0, start - NEGATION_REACH):start]
              if w.clause == clause and not _interjection(words, w.index)]
    negated = any(w in NEGATIONS for w in before) or any(
        tuple(before[i:i + len(p)]) == p for p in NEGATING_PHRASES for i in range(len(before)))
    in_clause = [w.text for w in words if w.clause == clause and not start <= w.index < start + size]
    hedged = any(w in HEDGES for w in in_clause)
    return Mention(key=key, start=start, end=start + size, negated=negated, hedged=hedged, exact=exact)


def _interjection(words: tuple[Word, ...], index: int) -> bool:
    """``words[index]`` is a "no" opening the message that answers the question, not a negation (:data:`ANSWERING_NO`)."""
    return index == 0 and words[0].text == "no" and len(words) > 1 and words[1].text in ANSWERING_NO


def _shadowed(mention: Mention, other: Mention) -> bool:
    """``other`` overlaps ``mention`` and wins: it is longer ("not urgent" over "urgent", "as soon as possible"
    over "soon"), or as long and exact where ``mention`` is a typo match."""
    if other is mention or other.end <= mention.start or mention.end <= other.start:
        return False
    size, other_size = mention.end - mention.start, other.end - other.start
    return other_size > size or (other_size == size and other.exact and not mention.exact)
