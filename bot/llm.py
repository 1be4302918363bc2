"""The language model, through langchain-openai: extraction, drafting and conversation notes.

On only when ``OPENAI_API_KEY`` is set (``OPENAI_BASE_URL`` points it at any
OpenAI-compatible server). Every call has a timeout (``LLM_TIMEOUT_S``) and bounded
retries (``LLM_MAX_RETRIES``); a timeout, an HTTP error or output that fails the schema
returns None, logged with the reason, and the caller takes the deterministic path. Each
call is recorded (``llm_calls``: purpose, latency, tokens, outcome) for ``/stats``.

The model is given no tools and no rep's details, and its output is only ever a proposal
that code validates (``graph.understanding``, ``graph.drafts``).
"""

from __future__ import annotations

import logging
import time
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


class LanguageModel:
    """One configured model, shared by a process's jobs (the client is thread-safe)."""

    def __init__(self, settings: Settings, playbook: Playbook, sessions: sessionmaker[Session]):
        """Raises:
            ValueError: ``OPENAI_API_KEY`` is not set (``Runtime.llm`` is None then: no model at all).
        """
        from langchain_openai import ChatOpenAI

        if settings.openai_api_key is None:
            raise ValueError("a language model needs OPENAI_API_KEY")
        self.playbook = playbook
        self.sessions = sessions
        self.model_name = settings.llm_model
        self.chat = ChatOpenAI(model=settings.llm_model, api_key=settings.openai_api_key.get_secret_value(),
                               base_url=settings.openai_base_url, timeout=settings.llm_timeout_s,
                               max_retries=settings.llm_max_retries, temperature=0)
        self._extract = self.chat.with_structured_output(
            extraction_schema(playbook), method="function_calling", include_raw=True)

    def understand(self, text: str, *, pending: str | None, lead_id: int | None) -> dict[str, Any] | None:
        """A proposal for ``text`` (``graph.understanding.clean``), or None when the call failed."""
        messages = [SystemMessage(extraction(self.playbook, pending)), HumanMessage(text[:2000])]
        result = self._call("extract", lead_id, lambda: self._extract.invoke(messages))
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
        result = self._call(purpose, lead_id, lambda: {"raw": self.chat.invoke(messages)})
        if result is None:
            return None
        content = result["raw"].content
        text = content.strip() if isinstance(content, str) else ""
        reason = check(text) if text else "empty answer"
        self._record(purpose, lead_id, "invalid" if reason else "ok", reason, result["_latency_ms"], result["raw"])
        return None if reason else text

    def _call(self, purpose: str, lead_id: int | None, invoke: Any) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            result = invoke()
        except (openai.APITimeoutError, TimeoutError) as exc:
            self._failed(purpose, lead_id, "timeout", exc, started)
            return None
        except Exception as exc:  # HTTP errors, connection errors, malformed answers: never break the turn
            self._failed(purpose, lead_id, "error", exc, started)
            return None
        result["_latency_ms"] = int((time.perf_counter() - started) * 1000)
        return result

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
                session.add(LlmCall(lead_id=lead_id, purpose=purpose, model=self.model_name[:64], outcome=outcome,
                                    reason=reason[:200] if reason else None, latency_ms=latency_ms,
                                    prompt_tokens=int(usage.get("input_tokens") or 0),
                                    completion_tokens=int(usage.get("output_tokens") or 0)))
        except Exception:
            log.warning("could not record a model call", exc_info=True)
