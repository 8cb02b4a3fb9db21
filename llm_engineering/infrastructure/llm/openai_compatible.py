"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp, Ollama, TGI): async, bounded, retried.

The openai client's own retries are off (max_retries=0) so every attempt is ours: counted, backed off
with jitter, and honouring Retry-After. A request that still fails becomes a result with `error`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import random
import time
from typing import Any

import openai
from openai.types.chat import ChatCompletion
from pydantic import SecretStr

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.interruption import raise_if_stop_requested
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

NO_KEY = "not-needed"  # local servers need no key, but the client insists on one
RETRYABLE_STATUS = {408, 409, 429}  # plus every 5xx


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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

    def usage(self) -> UsageReport:
        return self._counter.report()

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

        # One client per loop: its connection pool belongs to the loop that created it.
        client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.config.base_url, timeout=self.config.timeout_s, max_retries=0
        )
        semaphore = asyncio.Semaphore(self.config.max_concurrency)
        own = Progress(
            len(requests), f"generating ({self.model_id})", "request", enabled=show_progress and not progress
        )
        with own:
            advance = progress or own.update

            async def answer(request: ChatRequest) -> ChatResult:
                result = await self._answer(client, semaphore, request)
                self._counter.record(result)
                advance(1)  # as each request finishes, whatever the order
                return result

            try:
                return list(await asyncio.gather(*(answer(request) for request in requests)))
            finally:
                await client.close()

    async def _answer(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, request: ChatRequest
    ) -> ChatResult:
        attempts = 0
        while True:
            attempts += 1
            try:
                async with semaphore:
                    # Stopping: no new request is sent (one waiting for a slot or a retry raises here).
                    raise_if_stop_requested(f"before sending a request to {self.config.base_url}")
                    text, usage, finish_reason = await self._call(client, request)
                return ChatResult(
                    key=request.key, text=text, attempts=attempts, usage=usage, finish_reason=finish_reason
                )
            except _Retryable as error:
                if attempts > self.config.max_retries:
                    return ChatResult(
                        key=request.key, error=f"gave up after {attempts} attempts: {error}", attempts=attempts
                    )
                # Sleep outside the semaphore: a request waiting to retry must not hold a slot.
                await asyncio.sleep(self._delay(attempts, error.retry_after))
            except openai.APIStatusError as error:  # 400, 401, 404...: retrying cannot help
                return ChatResult(key=request.key, error=_describe(error), attempts=attempts)
            except openai.OpenAIError as error:
                return ChatResult(key=request.key, error=f"{type(error).__name__}: {error}", attempts=attempts)

    async def _call(self, client: openai.AsyncOpenAI, request: ChatRequest) -> tuple[str, Usage, str | None]:
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
            response = await client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as error:
            raise _Retryable(f"timed out after {self.config.timeout_s}s") from error
        except openai.APIConnectionError as error:
            raise _Retryable(f"connection error: {error}") from error
        except openai.APIStatusError as error:
            if error.status_code in RETRYABLE_STATUS or error.status_code >= 500:
                raise _Retryable(_describe(error), _retry_after(error.response.headers)) from error
            raise
        except (ValueError, openai.APIResponseValidationError) as error:  # a body that is not JSON
            raise _Retryable(f"malformed response: {error}") from error
        # A non-JSON content type comes back as a plain string; a JSON body without choices is no answer either.
        if not isinstance(response, ChatCompletion) or not response.choices:
            raise _Retryable(f"malformed response: {str(response)[:200]!r}")
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


def _describe(error: openai.APIStatusError) -> str:
    """`HTTP 500: <the server's own message>`, without the client's "Error code: 500 - {...}" wrapping."""
    body = error.body
    message = body.get("message") if isinstance(body, dict) else body
    return f"HTTP {error.status_code}: {str(message or error.message)[:300]}"
