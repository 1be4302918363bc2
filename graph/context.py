"""Run-scoped dependencies of a turn, passed as ``context=`` to ``graph.invoke``."""

from __future__ import annotations

from dataclasses import dataclass

from graph.playbook import Playbook


@dataclass(frozen=True)
class TurnContext:
    """Who the conversation is with and which playbook speaks.

    Attributes:
        playbook: the owner's validated playbook.
        phone: the prospect's number, E.164.
        name: the WhatsApp profile name (or a captured name); None when unknown.
        lead_ref: an opaque reference to the lead carried in the booking link (``utm_content``).
    """

    playbook: Playbook
    phone: str
    name: str | None = None
    lead_ref: str = ""
