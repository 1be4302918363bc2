"""The language model, through langchain-openai: extraction, drafting and conversation notes.

On only when ``OPENAI_API_KEY`` is set (``OPENAI_BASE_URL`` points it at any
OpenAI-compatible server). One inbound message has one budget (``LLM_BUDGET_S``) for every
call and retry; each call has a timeout (``LLM_TIMEOUT_S``, cut to what the budget has
left) and an output cap (``LLM_MAX_TOKENS``). A call that got no answer (connection refused,
429, 5xx) is retried within the budget up to ``LLM_MAX_RETRIES`` times; a timed-out one never
is, since the server may still be generating. A timeout, an error, an exhausted budget or
output that fails the schema returns None, logged with the reason, and the caller takes the
deterministic path. Each call is recorded (``llm_calls``: purpose, latency, tokens, outcome
``ok``/``timeout``/``error``/``invalid``/``over_budget``) for ``/stats``.

The model is given no tools and no rep's details, and its output is only ever a proposal
that code validates (``graph.understanding``, ``graph.drafts``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Callable

import openai
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from graph.playbook import Playbook
from graph.prompts import extraction
from graph.understanding import clean, extraction_schema
from settings import Settings
from store.models import LlmCall

log = logging.getLogger(__name__)

MIN_CALL_S = 0.5
"""A call is not started with less than this left of the message's budget, seconds."""
RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
"""Failures with no answer generated: worth another call within the budget (a timeout is not one of them)."""


class LanguageModel:
    """One configured model, shared by a process's jobs (the client is thread-safe)."""

    def __init__(self, settings: Settings, playbook: Playbook, sessions: sessionmaker[Session], *, business_id: int):
        """A model speaking with one business's ``playbook``; its calls are recorded as that business's.

        Raises:
            ValueError: ``OPENAI_API_KEY`` is not set (``Runtime.llm`` is None then: no model at all).
        """
        from langchain_openai import ChatOpenAI

        if settings.openai_api_key is None:
            raise ValueError("a language model needs OPENAI_API_KEY")
        self.playbook, self.business_id = playbook, business_id
        self.sessions = sessions
        self.model_name = settings.llm_model
        self.timeout_s, self.budget_s, self.max_retries = (settings.llm_timeout_s, settings.llm_budget_s,
                                                           settings.llm_max_retries)
        # langchain-openai sends max_tokens as max_completion_tokens, which llama.cpp's server ignores: any other
        # OpenAI-compatible server gets max_tokens too, in the body (OpenAI itself refuses both at once).
        other_server = bool(settings.openai_base_url) and "api.openai.com" not in (settings.openai_base_url or "")
        self.chat = ChatOpenAI(model=settings.llm_model, api_key=settings.openai_api_key.get_secret_value(),
                               base_url=settings.openai_base_url, timeout=settings.llm_timeout_s, max_retries=0,
                               max_tokens=settings.llm_max_tokens, temperature=0,
                               extra_body={"max_tokens": settings.llm_max_tokens} if other_server else None)

    def understand(self, text: str, *, pending: str | None, lead_id: int | None,
                   ask: Sequence[str] | None = None) -> dict[str, Any] | None:
        """A proposal for ``text`` (``graph.understanding.clean``) about the questions ``ask`` (default: all), the
        intent, FAQ and language; None when the call failed or the message's budget ran out."""
        deadline = time.monotonic() + self.budget_s
        messages = [SystemMessage(extraction(self.playbook, pending, ask)), HumanMessage(text[:2000])]
        schema = extraction_schema(self.playbook, ask)

        def invoke(timeout: float) -> Any:
            return self.chat.with_structured_output(schema, method="function_calling", include_raw=True,
                                                    timeout=timeout).invoke(messages)
        result = self._within_budget("extract", lead_id, invoke, deadline)
        if result is None:
            return None
        if result.get("parsing_error") is not None or not isinstance(result.get("parsed"), BaseModel):
            self._record("extract", lead_id, "invalid", f"output failed the schema: {result.get('parsing_error')}",
                         result.get("_latency_ms", 0), result.get("raw"))
            return None
        self._record("extract", lead_id, "ok", None, result["_latency_ms"], result.get("raw"))
        return clean(result["parsed"], self.playbook)

    def write(self, purpose: str, instructions: str, material: str, *, lead_id: int | None,
              check: Callable[[str], str | None] = lambda text: None) -> str | None:
        """Free text for ``purpose`` (``draft`` or ``summary``) that passes ``check`` (which returns the
        reason a text may not be used, or None); None when the call failed or the text was refused."""
        messages = [SystemMessage(instructions), HumanMessage(material[:6000])]
        result = self._within_budget(purpose, lead_id, lambda timeout: {"raw": self.chat.invoke(messages, timeout=timeout)},
                                     time.monotonic() + self.budget_s)
        if result is None:
            return None
        content = result["raw"].content
        text = content.strip() if isinstance(content, str) else ""
        reason = check(text) if text else "empty answer"
        self._record(purpose, lead_id, "invalid" if reason else "ok", reason, result["_latency_ms"], result["raw"])
        return None if reason else text

    def _within_budget(self, purpose: str, lead_id: int | None, invoke: Callable[[float], Any],
                       deadline: float) -> dict[str, Any] | None:
        """``invoke(timeout_s)``'s result with ``_latency_ms`` (all attempts), or None: each attempt's timeout is
        ``LLM_TIMEOUT_S`` cut to what is left before ``deadline`` (``time.monotonic()`` seconds)."""
        started = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            left = deadline - time.monotonic()
            if left < MIN_CALL_S:
                self._failed(purpose, lead_id, "over_budget", TimeoutError(f"{self.budget_s:g} s budget spent "
                                                                           f"after {attempt} call(s)"), started)
                return None
            try:
                result = invoke(min(self.timeout_s, left))
            except (openai.APITimeoutError, TimeoutError) as exc:  # never again: the server may be generating still
                self._failed(purpose, lead_id, "timeout", exc, started)
                return None
            except RETRYABLE as exc:
                if attempt == self.max_retries:
                    self._failed(purpose, lead_id, "error", exc, started)
                    return None
                continue
            except Exception as exc:  # 4xx, malformed answers: never break the turn
                self._failed(purpose, lead_id, "error", exc, started)
                return None
            result["_latency_ms"] = int((time.perf_counter() - started) * 1000)
            return result
        return None

    def _failed(self, purpose: str, lead_id: int | None, outcome: str, exc: Exception, started: float) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:200]
        log.warning("model call (%s) for lead %s failed, deterministic path instead: %s", purpose, lead_id, reason)
        self._record(purpose, lead_id, outcome, reason, int((time.perf_counter() - started) * 1000), None)

    def _record(self, purpose: str, lead_id: int | None, outcome: str, reason: str | None, latency_ms: int,
                raw: Any) -> None:
        usage = getattr(raw, "usage_metadata", None) or {}
        if outcome == "invalid" and reason:
            log.warning("model answer (%s) for lead %s not used: %s", purpose, lead_id, reason[:200])
        try:
            with self.sessions.begin() as session:
                session.add(LlmCall(business_id=self.business_id, lead_id=lead_id, purpose=purpose, model=self.model_name[:64],
                            outcome=outcome,
                                    reason=reason[:200] if reason else None, latency_ms=latency_ms,
                                    prompt_tokens=int(usage.get("input_tokens") or 0),
                                    completion_tokens=int(usage.get("output_tokens") or 0)))
        except Exception:
            log.warning("could not record a model call", exc_info=True)
