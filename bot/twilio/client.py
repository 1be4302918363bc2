"""Outbound messages through the twilio REST client.

The client's HTTP layer is the SDK's public extension point (``http_client=``):
:class:`RebasedHttpClient` sends every call to ``TWILIO_API_BASE_URL`` instead of
``https://api.twilio.com`` (and Content API calls, which the SDK makes to ``https://content.twilio.com``,
to ``TWILIO_CONTENT_BASE_URL``), so a Twilio-compatible server (the sandbox) can stand in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.errors import SendOutcomeUnknown, SendRefused, TwilioUnreachable
from settings import TWILIO_API_BASE_URL, TWILIO_CONTENT_BASE_URL, Settings

OPTED_OUT = 21610
"""Twilio error: "Attempt to send to unsubscribed recipient" (the number texted STOP)."""


@dataclass(frozen=True)
class Sent:
    """Twilio's answer to a created message: MessageSid, status and the sender it used."""

    sid: str
    status: str | None
    from_address: str | None


class RebasedHttpClient(TwilioHttpClient):
    """TwilioHttpClient that swaps ``https://api.twilio.com`` for ``base_url`` on every request, and
    ``https://content.twilio.com`` for ``content_base_url``.

    ``content_base_url`` None: Twilio's own Content API while ``base_url`` is Twilio's, else ``base_url`` (a
    stand-in for Twilio, such as the sandbox, serves the Content API beside the Messages API).
    """

    def __init__(self, base_url: str, *, timeout: float, pool_size: int = 10, content_base_url: str | None = None):
        super().__init__(timeout=timeout, pool_connections=True)
        self.base_url = base_url.rstrip("/")
        if not content_base_url:
            content_base_url = TWILIO_CONTENT_BASE_URL if self.base_url == TWILIO_API_BASE_URL else self.base_url
        self.content_base_url = content_base_url.rstrip("/")
        # One kept-alive connection per thread that sends at once (``TOUCH_CONCURRENCY``), not requests' 10.
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
        # requests reads the proxy and CA-bundle variables (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE…) by
        # scanning the whole environment on every request; every request goes to ``base_url`` (or the Content
        # API's base, which shares its network path), so read them for it once, as requests itself would, and stop
        # the per-request scan.
        environ = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies.update(environ["proxies"])
        self.session.verify = environ["verify"]
        self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API_BASE_URL):
            url = self.base_url + url[len(TWILIO_API_BASE_URL):]
        elif url.startswith(TWILIO_CONTENT_BASE_URL):
            url = self.content_base_url + url[len(TWILIO_CONTENT_BASE_URL):]
        return super().request(method, url, *args, **kwargs)


def make_client(settings: Settings) -> Client:
    """A twilio ``Client`` for the configured account, talking to ``TWILIO_API_BASE_URL`` (and
    ``TWILIO_CONTENT_BASE_URL`` for the Content API)."""
    http = RebasedHttpClient(settings.twilio_api_base_url, timeout=settings.twilio_timeout_s,
                             pool_size=settings.worker_threads + settings.touch_concurrency,
                             content_base_url=settings.twilio_content_base_url)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(), http_client=http)


class MessageClient:
    """Twilio's Messages resource: :meth:`send` creates one message with a status callback to
    ``PUBLIC_BASE_URL/twilio/status``; ``client`` (twilio's ``Client``) fetches and lists them."""

    def __init__(self, client: Client, *, status_callback: str):
        self.client = client
        self.status_callback = status_callback

    def send(self, *, to: str, body: str | None, from_address: str | None = None,
             messaging_service_sid: str | None = None, content_sid: str | None = None,
             content_variables: dict[str, Any] | None = None) -> Sent:
        """Create the message at Twilio.

        Exactly one of ``from_address`` / ``messaging_service_sid`` picks the sender;
        ``content_sid`` (a WhatsApp content template) replaces ``body``.

        Raises:
            SendRefused: Twilio answered with an error.
            TwilioUnreachable: no connection could be made.
            SendOutcomeUnknown: the connection broke or timed out after the request was sent.
        """
        params: dict[str, Any] = {"to": to, "status_callback": self.status_callback}
        if messaging_service_sid:
            params["messaging_service_sid"] = messaging_service_sid
        else:
            params["from_"] = from_address
        if content_sid:
            params["content_sid"] = content_sid
            params["content_variables"] = json.dumps(content_variables or {})
        else:
            params["body"] = body
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            raise SendRefused(exc.msg, code=exc.code, status=exc.status) from None
        except requests.exceptions.ConnectionError as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout) or not _request_sent(exc):
                raise TwilioUnreachable(str(exc)) from None
            raise SendOutcomeUnknown(str(exc)) from None
        except requests.exceptions.Timeout as exc:
            raise SendOutcomeUnknown(str(exc)) from None
        return Sent(sid=message.sid, status=message.status, from_address=message.from_)


def _request_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the request got out before the connection failed (refused/unresolved: it did not)."""
    text = str(exc).lower()
    return not any(s in text for s in ("refused", "name or service", "nodename", "failed to establish"))
