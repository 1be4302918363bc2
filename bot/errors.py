"""Every exception bot/ raises, in one place. The tree::

    Exception
    ├── SendError              a message was not handed to Twilio (bot.twilio.client.MessageClient.send)
    │   ├── SendRefused        Twilio answered 4xx/5xx; ``retryable`` for 429/20429 and 5xx
    │   ├── TwilioUnreachable  no connection was made: certainly not sent, a retry is safe
    │   └── SendOutcomeUnknown the request went out, no answer came: Twilio may have it, never retry
    ├── ContentRefused         Twilio's Content API refused or could not be reached (bot.twilio.content)
    └── ValueError
        └── ActionRefused      a rep's or the owner's action does not apply to the lead as it stands

A send's outcome for a row of the outbox is not an exception but a value (``bot.delivery.result.SendResult``).
"""

from __future__ import annotations


class SendError(Exception):
    """A message was not handed to Twilio. Subclasses say whether sending again is safe."""


class SendRefused(SendError):
    """Twilio answered with an error (4xx/5xx); the message was not created.

    Attributes:
        code: Twilio's error code (e.g. 21610 unsubscribed recipient, 21211 invalid To), or None.
        status: the HTTP status.
        retryable: True for 429 / 20429 (too many requests) and 5xx: the same send may be tried later.
    """

    def __init__(self, message: str, *, code: int | None, status: int):
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = status == 429 or status >= 500 or code == 20429


class TwilioUnreachable(SendError):
    """No connection to Twilio was made; the message was certainly not sent, so a retry is safe."""


class SendOutcomeUnknown(SendError):
    """The request went out but no answer came back: Twilio may have the message. Do not retry."""


class ContentRefused(Exception):
    """A Content API call failed: Twilio answered with an error, or could not be reached (``leadline content sync``
    stops with this message; the templates created before it are kept).

    Attributes:
        code: Twilio's error code, or None when Twilio was not reached.
        status: the HTTP status, or None when Twilio was not reached.
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class ActionRefused(ValueError):
    """The action does not apply to the lead as it stands (e.g. replying to an opted-out number)."""
