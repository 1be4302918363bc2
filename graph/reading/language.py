"""Which language a prospect writes in, told offline by ``lingua-language-detector``.

The detector knows only the playbook's own language and its locales, and answers only above
:data:`CONFIDENCE`, so a short or mixed message ("hola, need a roof repair") stays in the default.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

CONFIDENCE = 0.9
"""Lowest lingua confidence (0–1) at which a message's language is taken: "tengo una gotera" (0.99) and
"gracias" (0.97) are Spanish; "hola" (0.66), "no" (0.59) and "hola, need a roof repair" (English 0.98) are not."""


def detect(text: str, languages: tuple[str, ...]) -> str | None:
    """The ISO 639-1 code among ``languages`` (e.g. ``("en", "es")``) that ``text`` is written in with at least
    :data:`CONFIDENCE`, or None when unsure. Raises ValueError for a code lingua does not know."""
    return take_language(text, languages)


LEANING = 0.6
"""Lowest lingua confidence at which a model's reading of the language is believed: lingua must lean the same way.
A weak model called short English messages Spanish; "hola" (Spanish 0.66) still goes with a model saying so."""


def take_language(text: str, languages: tuple[str, ...], proposed: str | None = None) -> str | None:
    """The language the bot takes for ``text``: lingua's at :data:`CONFIDENCE`; else ``proposed`` (a model's
    reading) when lingua still leans to it at :data:`LEANING`; else None. One lingua pass. Raises ValueError for
    a code lingua does not know."""
    if len(languages) < 2 or not any(c.isalpha() for c in text):
        return None
    best = max(_detector(tuple(sorted(languages))).compute_language_confidence_values(text), key=lambda c: c.value)
    leaning = best.language.iso_code_639_1.name.lower()
    if best.value >= CONFIDENCE:
        return leaning
    return proposed if proposed == leaning and best.value >= LEANING else None


def corroborated(text: str, languages: tuple[str, ...], proposed: str | None) -> str | None:
    """``proposed`` when lingua, unsure of ``text``, still leans to it (:func:`take_language` without the sure
    case)."""
    return proposed if proposed is not None and take_language(text, languages, proposed) == proposed else None


@lru_cache(maxsize=8)
def _detector(languages: tuple[str, ...]) -> LanguageDetector:
    """One detector per language set, built once per process (lingua loads its models lazily)."""
    return LanguageDetectorBuilder.from_languages(
        *(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages)).build()
