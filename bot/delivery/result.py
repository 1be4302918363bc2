"""What became of a send or a follow-up touch: one result vocabulary for both, since a touch ends in its send.

A send (:func:`bot.delivery.send.send`) answers ``SENT``, ``CANCELLED``, ``FAILED``, ``RETRY``, ``THROTTLED``,
``WAITING`` or ``NOT_PENDING``; a touch (:func:`cadence.touches.run_touch`) answers ``SENT``, ``QUEUED``,
``DEFERRED``, ``SKIPPED``, ``CANCELLED``, ``NOT_DUE``, ``DONE`` or ``AWAITING_APPROVAL``, and
:meth:`SendResult.for_touch` says what its send's answer means for it. The values are what job results and the
touch batch's counts show.
"""

from __future__ import annotations

from enum import Enum


class SendResult(str, Enum):
    """What a send or a touch did."""

    SENT = "sent"
    """Twilio accepted the message (its MessageSid is recorded)."""
    CANCELLED = "cancelled"
    """Not sent, and never will be: opted out, cadence stopped, the lead closed or handed to a rep."""
    FAILED = "failed"
    """Twilio refused the message, or a crash left its fate unknown."""
    RETRY = "retry"
    """A send Twilio did not take: not reached, or asked to slow down; the row is pending again."""
    THROTTLED = "throttled"
    """A send over the sender's send rate; the row is pending again with ``send_after`` at its slot."""
    WAITING = "waiting"
    """A send behind an earlier message to the same recipient not sent yet; the row is pending again."""
    NOT_PENDING = "not_pending"
    """A send whose row was not pending: another worker has or had it, or it is held for later."""
    QUEUED = "queued"
    """A touch whose send is in the outbox but Twilio could not take it yet; it will be sent again."""
    DEFERRED = "deferred"
    """A touch due inside the lead's quiet hours, moved to their end."""
    SKIPPED = "skipped"
    """A touch skipped for good (on WhatsApp outside the 24-hour window with no template)."""
    NOT_DUE = "not_due"
    """A touch whose job came early: enqueued again for its time."""
    DONE = "done"
    """A touch with nothing owed (already sent, cancelled, or gone)."""
    AWAITING_APPROVAL = "awaiting_approval"
    """A touch whose model draft for a hot lead waits for a rep's approval (dashboard, or YES / EDIT by SMS)."""

    @property
    def not_taken_yet(self) -> bool:
        """A send Twilio could not take yet (``RETRY``, ``THROTTLED``, ``WAITING``): its row is pending again."""
        return self in (SendResult.RETRY, SendResult.THROTTLED, SendResult.WAITING)

    def for_touch(self) -> SendResult:
        """What a touch did, given this, what its send did: sent; queued when Twilio could not take it yet; else
        nothing owed."""
        if self is SendResult.SENT:
            return SendResult.SENT
        return SendResult.QUEUED if self.not_taken_yet else SendResult.DONE
