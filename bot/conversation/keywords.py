"""Compliance keywords: opt-out, opt-in and help, as carriers and Twilio define them.

Source: Twilio Advanced Opt-Out default keywords
(https://help.twilio.com/articles/223134027) and the CTIA Messaging Principles. A message
is a keyword only when, stripped of spaces and punctuation and in any case, it is the word.
"""

from __future__ import annotations

import re
from typing import Literal

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})

Keyword = Literal["opt_out", "opt_in", "help"]


def normalize(body: str | None) -> str:
    """Upper-case letters and digits only: ``" Stop! "`` → ``"STOP"``."""
    return re.sub(r"[\W_]+", "", body or "").upper()


def classify(body: str) -> Keyword | None:
    """``opt_out``, ``opt_in`` or ``help`` when the whole message is such a keyword, else None.

    ``YES`` is listed as opt-in; callers treat it so only for a number that has opted out.
    """
    word = normalize(body)
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
