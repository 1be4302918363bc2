"""The sandbox: a Twilio-compatible Messages API (and Content API) on loopback for local runs and tests.

It keeps the contract of Twilio's OpenAPI description of the Messages resource
(``shared/twilio/messages-openapi.json``): ``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json``
and ``GET …/Messages/{Sid}.json`` with HTTP basic auth, Twilio-shaped JSON and errors, and
status callbacks signed like Twilio's. Beside it, the Content API's ``/v1/Content`` creates, fetches and lists
WhatsApp content templates; a message sent with one of their ``ContentSid`` shows its body filled in and its
buttons. It refuses what Twilio refuses:

* 21610 — a number that texted STOP (Twilio's Advanced Opt-Out, SMS) gets nothing until START;
* 63016 — WhatsApp free-form text outside the 24-hour customer-service window fails
  (a content template, ``ContentSid``, is allowed).

Besides the Twilio API, ``/sandbox/*`` plays the prospect's phone: ``POST /sandbox/inbound``
delivers a message to the app's webhook exactly as Twilio would (signed form post), a tap on a WhatsApp
button included.

Modules: ``app`` (``create_sandbox``: the parts composed), ``state`` (what it remembers),
``context`` (the parts as request handlers reach them, basic auth), ``messages`` (the Messages resource),
``content`` (the Content API's templates),
``refusals`` (Twilio's error answers and the WhatsApp window), ``callbacks`` (signed posts to the
app), ``phone`` (``/sandbox/inbound``), ``controls`` (the other ``/sandbox/*`` test controls),
``server`` (a threaded keep-alive server), ``cli`` (``python -m bot.sandbox``).
"""

from bot.sandbox.app import create_sandbox
from bot.sandbox.cli import main
from bot.sandbox.messages import segments
from bot.sandbox.refusals import WHATSAPP_WINDOW_S, twilio_error
from bot.sandbox.server import serve_in_thread
from bot.sandbox.state import SandboxState, new_sid

__all__ = ["WHATSAPP_WINDOW_S", "SandboxState", "create_sandbox", "main", "new_sid", "segments", "serve_in_thread",
           "twilio_error"]
