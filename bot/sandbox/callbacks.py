"""The sandbox calling the app as Twilio does: signed form posts (status callbacks, inbound messages).

Each post carries ``X-Twilio-Signature`` computed with the account's auth token over the URL and
the form, so the app's signature check runs exactly as it does against Twilio.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from twilio.request_validator import RequestValidator

from bot.sandbox.state import SandboxState

log = logging.getLogger(__name__)

STEP_S = 0.02
"""Time between a created message's status changes (queued → sent → delivered, or → failed), seconds."""


class Callbacks:
    """Signs and posts to the app; walks created messages through their statuses on a pool of threads."""

    def __init__(self, *, account_sid: str, auth_token: str, state: SandboxState):
        self.account_sid = account_sid
        self.state = state
        self.validator = RequestValidator(auth_token)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-callback")

    def post(self, url: str, params: dict[str, str]) -> int | None:
        """POST ``params`` to ``url`` with X-Twilio-Signature, as Twilio does; returns the HTTP status."""
        signature = self.validator.compute_signature(url, params)
        try:
            return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=15).status_code
        except requests.RequestException as exc:
            log.warning("sandbox could not reach %s: %s", url, exc)
            return None

    def follow(self, sid: str, failure: tuple[int, str] | None) -> None:
        """In the background: the message fails with ``failure`` (code, message), or is sent, then delivered."""
        self.pool.submit(self._lifecycle, sid, failure)

    def _lifecycle(self, sid: str, failure: tuple[int, str] | None) -> None:
        time.sleep(STEP_S)
        if failure:
            self._advance(sid, "failed", failure)
            return
        self._advance(sid, "sent")
        time.sleep(STEP_S)
        self._advance(sid, "delivered")

    def _advance(self, sid: str, status: str, error: tuple[int, str] | None = None) -> None:
        """Move the message to ``status`` and post its status callback, if it asked for one."""
        state = self.state
        with state.lock:
            m = state.messages[sid]
            m["status"], m["updated"] = status, state.now()
            if status == "sent":
                m["sent"] = state.now()
            if error:
                m["error_code"], m["error_message"] = error
            callback = m.get("status_callback")
            params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                      "AccountSid": self.account_sid, "From": m["from"] or "", "To": m["to"], "ApiVersion": "2010-04-01"}
        if error:
            params["ErrorCode"] = str(error[0])
        if callback:
            self.post(callback, params)
