"""Twilio's Content API (``content.v1``): create, fetch and list content templates, under HTTP basic auth.

``POST /v1/Content`` takes the JSON body the twilio client sends (``friendly_name``, ``language``, ``variables``,
``types``; the client sends every type it knows, unused ones as null) and answers 201 with the Content resource;
``GET /v1/Content/{Sid}`` fetches one; ``GET /v1/Content`` lists them in pages (``contents`` and ``meta``, as
Twilio pages its newer APIs). Shapes follow the twilio package's ``twilio.rest.content.v1.content`` and Twilio's
docs (https://www.twilio.com/docs/content/content-api-resources): the resource's ``url`` and ``links`` name
``https://content.twilio.com``, whose calls a rebased client sends here.

A template breaking the documented limits is refused 400 (code 20001, the sandbox's one code for a Content API
validation error): a quick-reply needs 1–10 actions, each a title of at most 20 characters and an id of at most
200 (https://www.twilio.com/docs/content/twilio-quick-reply); a list picker a ``button`` and 1–10 items, each
at most 24 characters, its id 200 and its description 72 (https://www.twilio.com/docs/content/twiliolist-picker);
a body at most 1,024 characters (1,600 for ``twilio/text``).

:func:`render` is what a message created with ``ContentSid`` shows: the body with ``ContentVariables`` filled in,
and the buttons or list items to tap.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, jsonify, request

from bot.sandbox.context import authorized, current
from bot.sandbox.refusals import twilio_error
from bot.sandbox.state import SandboxState, new_sid
from settings import TWILIO_CONTENT_BASE_URL

bp = Blueprint("sandbox_content", __name__)

INVALID = 20001
"""The error code the sandbox answers an invalid template with."""
TEXT, QUICK_REPLY, LIST_PICKER = "twilio/text", "twilio/quick-reply", "twilio/list-picker"
TAPPABLE = (QUICK_REPLY, LIST_PICKER)
"""Content types whose answers are tapped, in the order a message renders them."""
LIMITS = {"body": 1024, "title": 20, "id": 200, "item": 24, "description": 72, "button": 20, "actions": 10}
"""Documented maxima (characters; ``actions`` counts list items too)."""


def resource(account_sid: str, sid: str, content: dict[str, Any]) -> dict[str, Any]:
    """A stored template as Twilio's Content resource."""
    url = f"{TWILIO_CONTENT_BASE_URL}/v1/Content/{sid}"
    created = _iso8601(content["created"])
    return {"sid": sid, "account_sid": account_sid, "friendly_name": content["friendly_name"],
            "language": content["language"], "variables": content["variables"], "types": content["types"],
            "url": url, "date_created": created, "date_updated": created,
            "links": {"approval_create": f"{url}/ApprovalRequests/whatsapp", "approval_fetch": f"{url}/ApprovalRequests"}}


@bp.post("/v1/Content")
def create_content() -> Any:
    ctx = current()
    if not authorized(ctx, ctx.account_sid):
        return twilio_error(401, 20003, "Authenticate")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return twilio_error(400, INVALID, "The request body must be a JSON object")
    types = {name: value for name, value in (body.get("types") or {}).items() if value is not None}
    problem = invalid_template(body, types)
    if problem:
        return twilio_error(400, INVALID, problem)
    sid = new_sid("HX")
    content = {"friendly_name": body.get("friendly_name"), "language": body["language"],
               "variables": body.get("variables") or {}, "types": types, "created": ctx.state.now()}
    with ctx.state.lock:
        ctx.state.contents[sid] = content
    return jsonify(resource(ctx.account_sid, sid, content)), 201


@bp.get("/v1/Content/<sid>")
def fetch_content(sid: str) -> Any:
    ctx = current()
    if not authorized(ctx, ctx.account_sid):
        return twilio_error(401, 20003, "Authenticate")
    with ctx.state.lock:
        content = ctx.state.contents.get(sid)
    if content is None:
        return twilio_error(404, 20404, f"The requested resource /Content/{sid} was not found")
    return jsonify(resource(ctx.account_sid, sid, content))


@bp.get("/v1/Content")
def list_content() -> Any:
    """Oldest first, in pages of ``PageSize`` (1–1000, default 50) numbered from ``Page`` 0."""
    ctx = current()
    if not authorized(ctx, ctx.account_sid):
        return twilio_error(401, 20003, "Authenticate")
    size = min(max(_int(request.args.get("PageSize"), 50), 1), 1000)
    page = max(_int(request.args.get("Page"), 0), 0)
    with ctx.state.lock:
        rows = list(ctx.state.contents.items())
    chunk = [resource(ctx.account_sid, sid, c) for sid, c in rows[page * size:(page + 1) * size]]

    def page_url(p: int) -> str:
        return f"{TWILIO_CONTENT_BASE_URL}/v1/Content?PageSize={size}&Page={p}"

    more = (page + 1) * size < len(rows)
    return jsonify({"contents": chunk, "meta": {
        "page": page, "page_size": size, "first_page_url": page_url(0), "url": page_url(page),
        "previous_page_url": page_url(page - 1) if page > 0 else None,
        "next_page_url": page_url(page + 1) if more else None, "key": "contents"}})


def invalid_template(body: dict[str, Any], types: dict[str, Any]) -> str | None:
    """What makes a create request invalid, said as Twilio would; None when it is valid."""
    language = body.get("language")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2}([_-][A-Za-z]{2})?", language):
        return "language is required: a two-letter (ISO 639-1) code"
    if not isinstance(body.get("variables") or {}, dict):
        return "variables must be an object of variable name to sample value"
    if not types:
        return "types is required: at least one content type"
    for name, spec in types.items():
        if not isinstance(spec, dict):
            return f"types.{name} must be an object"
        problem = _invalid_type(name, spec)
        if problem:
            return f"types.{name}: {problem}"
    return None


def _invalid_type(name: str, spec: dict[str, Any]) -> str | None:
    body_max = 1600 if name == TEXT else LIMITS["body"]
    if name in (TEXT, *TAPPABLE) and not _text(spec.get("body"), body_max):
        return f"body is required, at most {body_max} characters"
    if name == QUICK_REPLY:
        return _invalid_entries(spec.get("actions"), "actions", {"title": LIMITS["title"], "id": LIMITS["id"]})
    if name == LIST_PICKER:
        if not _text(spec.get("button"), LIMITS["button"]):
            return f"button is required, at most {LIMITS['button']} characters"
        return _invalid_entries(spec.get("items"), "items", {"item": LIMITS["item"], "id": LIMITS["id"]},
                                optional={"description": LIMITS["description"]})
    return None


def _invalid_entries(entries: Any, what: str, required: dict[str, int], optional: dict[str, int] | None = None) -> str | None:
    if not isinstance(entries, list) or not 1 <= len(entries) <= LIMITS["actions"]:
        return f"{what} must hold 1 to {LIMITS['actions']} entries"
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"{what}[{n}] must be an object"
        for field, most in required.items():
            if not _text(entry.get(field), most):
                return f"{what}[{n}].{field} is required, at most {most} characters"
        for field, most in (optional or {}).items():
            if entry.get(field) is not None and not _text(entry[field], most, empty=True):
                return f"{what}[{n}].{field} is at most {most} characters"
    return None


def render(state: SandboxState, content_sid: str | None, content_variables: str | None) -> dict[str, Any] | None:
    """What a message created with ``content_sid`` shows, or None for a template the sandbox never created (a
    WhatsApp template approved elsewhere): ``body`` with the variables filled (``ContentVariables`` over the
    template's samples), ``content_type``, and ``buttons`` (``[{"id", "title"}]``, list items too). Call with
    ``state.lock`` held."""
    content = state.contents.get(content_sid or "")
    if content is None:
        return None
    given = json.loads(content_variables) if content_variables else {}
    variables = {**content["variables"], **(given if isinstance(given, dict) else {})}
    kind = next((t for t in (*TAPPABLE, TEXT) if t in content["types"]), next(iter(content["types"])))
    spec = content["types"][kind]

    def fill(text: Any) -> str:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(variables.get(m.group(1), m.group(0))), str(text or ""))

    entries = spec.get("actions") or spec.get("items") or []
    buttons = [{"id": fill(e.get("id")), "title": fill(e.get("title") or e.get("item"))} for e in entries]
    return {"body": fill(spec.get("body")), "content_type": kind, "buttons": buttons}


def _text(value: Any, most: int, *, empty: bool = False) -> bool:
    return isinstance(value, str) and (empty or bool(value.strip())) and len(value) <= most


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
