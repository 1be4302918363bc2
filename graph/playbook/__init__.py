"""The owner's playbook: one YAML file, validated once at start into an immutable :class:`Playbook`.

Everything an owner would change lives in that file, never in code. Load it with
:func:`load_playbook`; a bad file raises :class:`PlaybookError` naming the file, the field
and the reason, so start-up stops with a message an owner can act on.

Modules:
    loader       reading the YAML (1.2 booleans) and turning validation errors into PlaybookError
    root         the Playbook model: all sections, cross-checked, lookups by id and language
    schema       the sections: business, questions, scoring, outcomes, reps, FAQ, replies, locales, goals, routing
    cadence      follow-up touches: durations, clock times, quiet hours, call window, steps
    checks       checks across sections: unique ids, known references, known placeholders
    owner_texts  where the owner's texts are: each by dotted path, one by path and language
    phones       E.164 phone numbers
    base         the frozen, strict pydantic base of every section
    errors       PlaybookError
"""

from graph.playbook.cadence import WEEKDAYS, CallWindow, Step, TimeRange, parse_clock
from graph.playbook.errors import PlaybookError
from graph.playbook.loader import _Yaml12Loader, load_playbook, read_playbook
from graph.playbook.phones import to_e164
from graph.playbook.root import Playbook
from graph.playbook.schema import Points, Question, Rep, RoutingRule

__all__ = [
    "WEEKDAYS",
    "CallWindow",
    "Playbook",
    "PlaybookError",
    "Points",
    "Question",
    "Rep",
    "RoutingRule",
    "Step",
    "TimeRange",
    "_Yaml12Loader",  # private by name, but the tests and conftest read YAML exactly as the loader does
    "load_playbook",
    "parse_clock",
    "read_playbook",
    "to_e164",
]
