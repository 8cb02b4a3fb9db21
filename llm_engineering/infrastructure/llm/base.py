"""The one interface every LLM provider speaks: a batch of chat requests in, one result per request out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.llm_usage import UsageReport  # noqa: F401 - re-exported: the providers report it


class ChatRequest(BaseModel):
    messages: list[dict[str, str]]
    response_format: dict | None = None  # passed to servers that support it; the local model ignores it
    max_new_tokens: int | None = None  # overrides the config
    temperature: float | None = None  # overrides the config
    key: str = ""  # the caller's label (e.g. chunk id + task), echoed back in the result


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatResult(BaseModel):
    key: str
    text: str = ""
    error: str | None = None  # why it failed, verbatim: the timeout, the HTTP status and body, the connection error
    error_kind: str | None = None  # what reports count: timeout, HTTP 500, connection error, malformed response
    cached: bool = False
    attempts: int = 0  # model calls made for this request; 0 when answered from the cache
    usage: Usage = Field(default_factory=Usage)  # tokens spent by this run; zero for cache hits
    finish_reason: str | None = Field(
        None, description="why generation stopped: 'stop' (the model's own end of turn), 'length' (the token budget "
        "ran out: the answer is cut off), or what the server said; None: unknown"
    )  # fmt: skip

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        """Cut off by the token budget, not ended by the model."""
        return self.finish_reason == "length"


Progressed = Callable[[int], None]  # told how many more requests are answered


@runtime_checkable
class LLMProvider(Protocol):
    model_id: str

    def generate(
        self, requests: list[ChatRequest], show_progress: bool = False, progress: Progressed | None = None
    ) -> list[ChatResult]:
        """One result per request, in the same order; a failed request is a result with `error`, never raised.
        `progress` is called with the number of requests just answered, as they are (per request from a server, per
        batch from the local model); without it, `show_progress` shows a Progress of the call's own."""
        ...

    def usage(self) -> UsageReport: ...


def sampling_params(config: LLMConfig, request: ChatRequest) -> dict[str, Any]:
    """The effective decoding settings of one request: what changes the answer, so also part of the cache key."""
    temperature = config.temperature if request.temperature is None else request.temperature
    return {
        "temperature": temperature,
        "top_p": config.top_p,
        "max_new_tokens": request.max_new_tokens or config.max_new_tokens,
        "seed": config.seed if temperature > 0 else None,  # greedy answers do not depend on it
        "response_format": request.response_format,
    }


class UsageCounter:
    """Thread-safe running totals; cost uses the configured $ per 1M tokens."""

    def __init__(self, config: LLMConfig):
        self._input_price = config.cost_per_million_input_tokens
        self._output_price = config.cost_per_million_output_tokens
        self._report = UsageReport()
        self._lock = threading.Lock()

    def record(self, result: ChatResult) -> None:
        with self._lock:
            report = self._report
            report.calls += 1
            report.failed += 0 if result.ok else 1
            report.retries += max(result.attempts - 1, 0)
            report.prompt_tokens += result.usage.prompt_tokens
            report.completion_tokens += result.usage.completion_tokens
            report.cost_usd = (
                report.prompt_tokens * self._input_price + report.completion_tokens * self._output_price
            ) / 1_000_000

    def report(self) -> UsageReport:
        with self._lock:
            return self._report.model_copy()
