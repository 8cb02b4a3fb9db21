"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp, Ollama, TGI): async, bounded, retried.

The openai client's own retries are off (max_retries=0) so every attempt is ours: counted, backed off
with jitter, and honouring Retry-After. A request that still fails becomes a result with `error` saying why
(`error_kind`: timeout, HTTP <status>, connection error, malformed response).

How many requests are in flight adapts to the server (adaptive_concurrency.py): from `max_concurrency` down to what
answers within half of `timeout_s`. An attempt's timeout counts from when it is sent, never while it waits here for
a slot; an attempt after a timeout gets `retry_timeout_factor` times longer, and a timeout always gets that second
try, whatever `max_retries` says.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import logging
import random
import time
from typing import Any

import openai
from openai.types.chat import ChatCompletion
from pydantic import SecretStr

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.interruption import raise_if_stop_requested
from llm_engineering.infrastructure.llm.adaptive_concurrency import AdaptiveLimit, Gate, Outcome
from llm_engineering.infrastructure.llm.base import (
    ChatRequest,
    ChatResult,
    Progressed,
    Usage,
    UsageCounter,
    UsageReport,
    sampling_params,
)
from llm_engineering.settings import get_settings

# httpx logs one INFO line per request (`HTTP Request: POST .../chat/completions "HTTP/1.1 200 OK"`: 79 in one run);
# the progress line counts requests and every failure says why. Warnings only, unless a level is set for them.
for _name in ("httpx", "httpx2", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

NO_KEY = "not-needed"  # local servers need no key, but the client insists on one
RETRYABLE_STATUS = {408, 409, 429}  # plus every 5xx
OVERLOAD_STATUS = {408, 429, 502, 503, 504}  # the server is busy (or a proxy gave up on it): fewer in flight
LATENCY_TARGET = 0.5  # of timeout_s: answers slower than this queued at the server, so fewer are sent at once
BODY_EXCERPT = 300  # characters of an error body kept in the error


class _Retryable(Exception):
    def __init__(self, message: str, kind: str, retry_after: float | None = None, overload: bool = False):
        super().__init__(message)
        self.kind = kind  # what reports count: timeout, HTTP 503, connection error, malformed response
        self.retry_after = retry_after
        self.overload = overload  # a sign to send fewer requests at once


class OpenAICompatibleProvider:
    def __init__(self, config: LLMConfig, api_key: SecretStr | None = None):
        if not config.base_url:
            raise ValueError("the openai provider needs config.base_url")
        self.config = config
        self.model_id = f"openai:{config.model}"
        key = api_key or get_settings().openai_api_key
        self._api_key = key.get_secret_value() if key else NO_KEY
        self._counter = UsageCounter(config)
        self._jitter = random.Random(config.seed)
        # Shared by every call: a step's chunks of requests go on where the previous one left the limit.
        self._limit = AdaptiveLimit(config.max_concurrency, config.timeout_s * LATENCY_TARGET,
                                    adaptive=config.adaptive_concurrency)  # fmt: skip

    def usage(self) -> UsageReport:
        report = self._counter.report()
        snapshot = self._limit.snapshot()
        report.concurrency, report.lowest_concurrency = int(snapshot["concurrency"]), int(snapshot["lowest"])
        return report

    def generate(
        self, requests: list[ChatRequest], show_progress: bool = False, progress: Progressed | None = None
    ) -> list[ChatResult]:
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._generate_all(requests, show_progress, progress))
        # Called from inside a running loop (a notebook, an async step): asyncio.run would refuse there.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._generate_all(requests, show_progress, progress)).result()

    async def _generate_all(
        self, requests: list[ChatRequest], show_progress: bool, progress: Progressed | None
    ) -> list[ChatResult]:
        from llm_engineering.infrastructure.progress import Progress

        # One client per loop: its connection pool belongs to the loop that created it. Its own timeout only bounds
        # connecting: each attempt's deadline is ours, from when it is sent (_call).
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.config.base_url,
            timeout=openai.Timeout(None, connect=self.config.timeout_s),
            max_retries=0,
        )
        gate = Gate(self._limit)
        own = Progress(
            len(requests), f"generating ({self.model_id})", "request", enabled=show_progress and not progress
        )
        with own:
            advance = progress or own.update

            async def answer(request: ChatRequest) -> ChatResult:
                result = await self._answer(client, gate, request)
                self._counter.record(result)
                advance(1)  # as each request finishes, whatever the order
                return result

            try:
                return list(await asyncio.gather(*(answer(request) for request in requests)))
            finally:
                await client.close()

    async def _answer(self, client: openai.AsyncOpenAI, gate: Gate, request: ChatRequest) -> ChatResult:
        attempts = timeouts = 0
        causes: list[str] = []  # what went wrong with each attempt that did not time out
        waited: list[float] = []  # the deadline of each attempt that timed out
        while True:
            attempts += 1
            # After a timeout the server was slow, not wrong (a queue, a long answer): the next attempt waits longer.
            timeout = self.config.timeout_s * (self.config.retry_timeout_factor if timeouts else 1.0)
            ticket = await gate.acquire()  # waiting here for a slot is not part of the timeout
            outcome: Outcome = "other"
            try:
                # Stopping: no new request is sent (one waiting for a slot or a retry raises here).
                raise_if_stop_requested(f"before sending a request to {self.config.base_url}")
                text, usage, finish_reason = await self._call(client, request, timeout)
                outcome = "answered"
                return ChatResult(
                    key=request.key, text=text, attempts=attempts, usage=usage, finish_reason=finish_reason
                )
            except _Retryable as error:
                outcome = "overloaded" if error.overload else "other"
                retryable = error
            except openai.APIStatusError as error:  # 400, 401, 404...: retrying cannot help
                return ChatResult(key=request.key, error=_describe(error), error_kind=f"HTTP {error.status_code}",
                                  attempts=attempts)  # fmt: skip
            except openai.OpenAIError as error:
                return ChatResult(key=request.key, error=f"{type(error).__name__}: {error}",
                                  error_kind=type(error).__name__, attempts=attempts)  # fmt: skip
            finally:
                await gate.release(ticket, outcome)
            if retryable.kind == "timeout":
                timeouts += 1
                waited.append(timeout)
            else:
                causes.append(str(retryable))
            allowed = max(self.config.max_retries, 1) if timeouts else self.config.max_retries
            if attempts > allowed:
                gave_up = f"gave up after {attempts} attempts: " if attempts > 1 else ""
                return ChatResult(key=request.key, error=gave_up + _causes(retryable.kind, causes, waited),
                                  error_kind=retryable.kind, attempts=attempts)  # fmt: skip
            # Out of the gate while waiting: a request waiting to retry holds no slot. A timeout is retried at once:
            # the gate has already cut how many go out together.
            if retryable.kind != "timeout":
                await asyncio.sleep(self._delay(attempts, retryable.retry_after))

    async def _call(
        self, client: openai.AsyncOpenAI, request: ChatRequest, timeout: float
    ) -> tuple[str, Usage, str | None]:
        """The answer, its token usage and the server's finish_reason ('length': cut off at max_tokens)."""
        params = sampling_params(self.config, request)
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.messages,
            "temperature": params["temperature"],
            "top_p": params["top_p"],
            "max_tokens": params["max_new_tokens"],
        }
        if params["temperature"] > 0:
            kwargs["seed"] = params["seed"]  # only matters when sampling; some servers reject unknown fields
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        try:
            async with asyncio.timeout(timeout):  # from here: the request is being sent
                raw = await client.chat.completions.with_raw_response.create(**kwargs)
        except (TimeoutError, openai.APITimeoutError) as error:
            raise _Retryable(f"timed out after {timeout:g}s", "timeout", overload=True) from error
        except openai.APIConnectionError as error:
            raise _Retryable(f"connection error: {_connection_cause(error)}", "connection error",
                             overload=True) from error  # fmt: skip
        except openai.APIStatusError as error:
            if error.status_code in RETRYABLE_STATUS or error.status_code >= 500:
                raise _Retryable(_describe(error), f"HTTP {error.status_code}", _retry_after(error.response.headers),
                                 overload=error.status_code in OVERLOAD_STATUS) from error  # fmt: skip
            raise
        except (ValueError, openai.APIResponseValidationError) as error:  # a body that is not JSON
            raise _Retryable(f"malformed response: {error}", "malformed response") from error
        try:
            response = raw.parse()
        except (ValueError, openai.APIResponseValidationError) as error:  # a body that is not JSON
            raise _Retryable(f"malformed response: {error}; body: {_excerpt(raw.http_response.text)!r}",
                             "malformed response") from error  # fmt: skip
        # A non-JSON content type comes back as a plain string; a JSON body without choices is no answer either.
        if not isinstance(response, ChatCompletion) or not response.choices:
            raise _Retryable(f"malformed response: {_excerpt(raw.http_response.text)!r}", "malformed response")
        usage = response.usage
        choice = response.choices[0]
        tokens = Usage(
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
        return choice.message.content or "", tokens, choice.finish_reason

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The server said when; a little jitter on top stops all waiting requests returning at once.
            return retry_after + self._jitter.uniform(0, min(retry_after * 0.1, 1.0))
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return ceiling / 2 + self._jitter.uniform(0, ceiling / 2)  # "equal jitter": never near-zero, never in step


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, or `Retry-After` as (fractional) seconds or an HTTP date."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _causes(last_kind: str, causes: list[str], waited: list[float]) -> str:
    """Why a request failed: its last attempt's cause first, then the other causes its attempts met."""
    timed_out = ""
    if waited:
        deadlines = ", then ".join(f"{seconds:g}s" for seconds in waited)
        timed_out = f"timed out after {deadlines} (each from when the request was sent)"
    distinct = list(dict.fromkeys(reversed(causes)))  # the latest first
    ordered = [timed_out, *distinct] if last_kind == "timeout" else [*distinct[:1], timed_out, *distinct[1:]]
    first, *earlier = [cause for cause in ordered if cause]
    return first + (f"; earlier: {'; '.join(earlier)}" if earlier else "")


def _excerpt(text: str) -> str:
    """The start of a body, on one line."""
    return " ".join(text.split())[:BODY_EXCERPT]


def _describe(error: openai.APIStatusError) -> str:
    """`HTTP 500: <the server's own message>`, without the client's "Error code: 500 - {...}" wrapping; a body with
    no message of its own (plain text, an HTML error page, `{"detail": ...}`) is quoted as it came."""
    body = error.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = error.response.text or error.message
    return f"HTTP {error.status_code}: {_excerpt(str(message))}"


def _connection_cause(error: openai.APIConnectionError) -> str:
    """What went wrong underneath the client's bare "Connection error.": refused, reset, closed mid-request."""
    causes: list[str] = []
    cause: BaseException | None = error.__cause__
    while cause is not None and len(causes) < 3:
        text = str(cause).strip()
        described = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
        if described not in causes:  # httpx re-raises httpcore's error under the same name and message
            causes.append(described)
        cause = cause.__cause__
    return " <- ".join(causes) if causes else str(error)
