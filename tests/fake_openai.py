"""An OpenAI-compatible chat-completions server on loopback, scripted by the tests.

The real langchain-openai client (and the openai SDK under it) talks to it over HTTP, so
tests exercise the same code path a real model would: tool-call answers for structured
output, plain text answers for drafts, and the failures a real server has (malformed
JSON, slow answers, 500s).

A test sets ``fake.respond`` to a function of the request body (the last user message is
``last_user(body)``) returning one of :func:`extraction`, :func:`text`, :func:`malformed`,
:func:`server_error`, :func:`slow` or :func:`runaway`. Every request is kept in ``fake.requests``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

from flask import Flask, jsonify, request


def last_user(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat-completions request."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    return ""


def _completion(body: dict[str, Any], message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}


def said(value: str, quote: str) -> dict[str, str]:
    """One proposed answer as the tool schema asks for it: the value and the words of the message it is from."""
    return {"value": value, "quote": quote}


def runaway(tokens: int, seconds: float) -> Callable[[dict[str, Any]], tuple[dict[str, Any], int]]:
    """What a weak model did on a real server: junk generated into one JSON string for ``seconds``, stopped by
    ``max_tokens`` when the request carries it (then cut at that many "tokens", as llama.cpp's server does), else
    after ``tokens``. The arguments are never valid JSON."""
    def answer(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        cap = body.get("max_tokens")
        generated = min(tokens, cap) if cap else tokens
        time.sleep(seconds * generated / tokens)
        name = body["tools"][0]["function"]["name"]
        junk = '{"urgency": {"value": "now", "quote": "' + "the the " * generated
        call = {"id": "call_runaway", "type": "function", "function": {"name": name, "arguments": junk}}
        reply = _completion(body, {"role": "assistant", "content": None, "tool_calls": [call]}, "length")
        reply["usage"]["completion_tokens"] = generated
        return reply, 200
    return answer


def extraction(**fields: Any) -> Callable[[dict[str, Any]], tuple[dict[str, Any], int]]:
    """A tool-call answer carrying ``fields`` as the structured output's arguments (an answer is :func:`said`)."""
    def answer(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        name = body["tools"][0]["function"]["name"]
        call = {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(fields)}}
        return _completion(body, {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"), 200
    return answer


def text(content: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], int]]:
    """A plain text answer (a draft or a note)."""
    return lambda body: (_completion(body, {"role": "assistant", "content": content}, "stop"), 200)


def malformed() -> Callable[[dict[str, Any]], tuple[dict[str, Any], int]]:
    """A tool call whose arguments are not JSON."""
    def answer(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        name = body["tools"][0]["function"]["name"]
        call = {"id": "call_bad", "type": "function", "function": {"name": name, "arguments": "{service_type: repl"}}
        return _completion(body, {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"), 200
    return answer


def server_error() -> Callable[[dict[str, Any]], tuple[dict[str, Any], int]]:
    return lambda body: ({"error": {"message": "The server had an error", "type": "server_error"}}, 500)


def slow(seconds: float, then: Callable[[dict[str, Any]], tuple[dict[str, Any], int]]) -> Callable[..., Any]:
    def answer(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        time.sleep(seconds)
        return then(body)
    return answer


class FakeOpenAI:
    """The server's state: the responder and the requests seen."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond: Callable[[dict[str, Any]], Callable[[dict[str, Any]], tuple[dict[str, Any], int]]] = \
            lambda body: extraction()
        self.lock = threading.Lock()
        self.app = Flask("fake_openai")
        self.app.add_url_rule("/v1/chat/completions", "chat", self._chat, methods=["POST"])

    def _chat(self) -> Any:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return jsonify({"error": {"message": "missing key"}}), 401
        body = request.get_json()
        with self.lock:
            self.requests.append(body)
        payload, status = self.respond(body)(body)
        return jsonify(payload), status

    def calls_for(self, fragment: str) -> list[dict[str, Any]]:
        """Requests whose last user message contains ``fragment``."""
        with self.lock:
            return [b for b in self.requests if fragment in last_user(b)]
