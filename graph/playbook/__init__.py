"""The owner's playbook: one YAML file, validated once at start into an immutable :class:`Playbook`."""

from graph.playbook.schema import (
    WEEKDAYS,
    CallWindow,
    Playbook,
    PlaybookError,
    Points,
    Question,
    Rep,
    RoutingRule,
    Step,
    TimeRange,
    _Yaml12Loader,
    load_playbook,
    parse_clock,
    to_e164,
)

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
    "_Yaml12Loader",
    "load_playbook",
    "parse_clock",
    "to_e164",
]
