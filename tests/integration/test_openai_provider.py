"""The OpenAI-compatible provider against a real loopback server: answers, faults, retries, cache, limits."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm import ChatRequest, build_provider
from tests.support.openai_server import Fault, OpenAIStubServer


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer() as running:
        yield running


def openai_config(server: OpenAIStubServer, **overrides: object) -> LLMConfig:
    settings: dict = {
        "provider": "openai",
        "base_url": server.base_url,
        "model": "stub-model",
        "cache": False,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,  # fast tests; Retry-After, when sent, still rules
        "backoff_max_s": 0.05,
    }
    return LLMConfig(**(settings | overrides))


def ask(text: str, key: str | None = None, **fields: object) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], key=key or text, **fields)


def test_answers_come_back_in_order_with_usage_and_cost(server: OpenAIStubServer) -> None:
    config = openai_config(server, cost_per_million_input_tokens=2.0, cost_per_million_output_tokens=10.0)
    provider = build_provider(config)

    results = provider.generate([ask(f"question number {i}", key=f"chunk-{i}") for i in range(5)])

    assert [r.key for r in results] == [f"chunk-{i}" for i in range(5)]
    assert [r.text for r in results] == [f"echo: question number {i}" for i in range(5)]
    assert all(r.ok and r.attempts == 1 and not r.cached for r in results)
    assert [(r.usage.prompt_tokens, r.usage.completion_tokens) for r in results] == [(3, 4)] * 5
    assert server.request_count == 5
    report = provider.usage()
    assert (report.calls, report.failed, report.retries) == (5, 0, 0)
    assert (report.prompt_tokens, report.completion_tokens) == (15, 20)
    assert report.cost_usd == pytest.approx((15 * 2.0 + 20 * 10.0) / 1_000_000)
    assert server.requests[0]["model"] == "stub-model"
    assert server.requests[0]["max_tokens"] == 256 and server.requests[0]["temperature"] == 0.0


def test_transient_faults_are_retried_until_the_answer_arrives(server: OpenAIStubServer) -> None:
    server.script("flaky", Fault.server_error(500), Fault.server_error(503), Fault.malformed())
    provider = build_provider(openai_config(server))

    [result] = provider.generate([ask("flaky question")])

    assert result.ok and result.text == "echo: flaky question"
    assert result.attempts == 4
    assert server.count("flaky") == 4
    assert provider.usage().retries == 3


def test_retry_after_is_honoured(server: OpenAIStubServer) -> None:
    server.script("limited", Fault.rate_limited(retry_after=1))
    provider = build_provider(openai_config(server))

    started = time.monotonic()
    [result] = provider.generate([ask("limited question")])
    elapsed = time.monotonic() - started

    assert result.ok and result.text == "echo: limited question" and result.attempts == 2
    assert elapsed >= 1.0  # the configured backoff alone would be under 0.05 s
    assert server.count("limited") == 2


def test_persistent_server_error_fails_only_that_request(server: OpenAIStubServer) -> None:
    server.always("broken", Fault.server_error(500))
    provider = build_provider(openai_config(server, max_retries=2))

    results = provider.generate([ask("fine one"), ask("broken one"), ask("fine two")])

    assert [r.key for r in results] == ["fine one", "broken one", "fine two"]
    assert results[0].text == "echo: fine one" and results[2].text == "echo: fine two"
    broken = results[1]
    assert not broken.ok and broken.text == ""
    assert broken.error == "gave up after 3 attempts: HTTP 500: injected server error"
    assert broken.attempts == 3  # max_retries + 1
    assert server.count("broken") == 3 and server.request_count == 5
    report = provider.usage()
    assert (report.calls, report.failed, report.retries) == (3, 1, 2)


def test_a_timeout_is_retried_and_a_persistent_one_fails(server: OpenAIStubServer) -> None:
    # The healthy retry must answer within timeout_s even on a loaded CI machine (a GC pause, a busy core):
    # 1 s leaves room for that, and the slow answers stay far beyond it.
    # The second try of a request that timed out waits twice as long (retry_timeout_factor 2): still short of 4 s.
    server.script("slow once", Fault.slow(4.0))
    server.always("always slow", Fault.slow(4.0))
    provider = build_provider(openai_config(server, timeout_s=1.0, max_retries=1))

    once, always = provider.generate([ask("slow once"), ask("always slow")])

    assert once.ok and once.text == "echo: slow once" and once.attempts == 2
    assert always.error == (
        "gave up after 2 attempts: timed out after 1s, then 2s (each from when the request was sent)"
    )
    assert always.error_kind == "timeout" and always.attempts == 2
    assert server.count("slow once") == 2 and server.count("always slow") == 2


def test_a_timeout_gets_a_longer_second_try_even_without_retries(server: OpenAIStubServer) -> None:
    # 0.8 s to answer: over the first 0.5 s deadline, within the second try's 1 s (timeout_s x retry_timeout_factor).
    server.script("slow", Fault.slow(0.8), Fault.slow(0.8))
    provider = build_provider(openai_config(server, timeout_s=0.5, max_retries=0))

    [result] = provider.generate([ask("slow answer")])

    assert result.ok and result.text == "echo: slow answer" and result.attempts == 2
    assert server.count("slow") == 2


def test_malformed_body_is_retried_then_reported(server: OpenAIStubServer) -> None:
    server.always("garbled", Fault.malformed())
    provider = build_provider(openai_config(server, max_retries=1))

    [result] = provider.generate([ask("garbled answer please")])

    assert result.error is not None and result.error.startswith("gave up after 2 attempts: malformed response")
    assert result.attempts == 2 and server.count("garbled") == 2


def test_a_client_error_is_not_retried(server: OpenAIStubServer) -> None:
    server.always("rejected", Fault.server_error(400))
    provider = build_provider(openai_config(server))

    [result] = provider.generate([ask("rejected prompt")])

    assert result.error == "HTTP 400: injected server error" and result.attempts == 1
    assert server.count("rejected") == 1


def test_concurrency_stays_within_the_bound() -> None:
    # The stub counts a request in flight until just before its answer's body is written, so the bound is exact
    # (never over); each answer takes 0.25 s, long enough for four requests to overlap even on a loaded machine.
    with OpenAIStubServer(latency_s=0.25) as server:
        provider = build_provider(openai_config(server, max_concurrency=4))
        results = provider.generate([ask(f"q{i}") for i in range(16)], show_progress=True)

    assert all(r.ok for r in results)
    assert server.max_in_flight == 4


def test_response_format_is_passed_through(server: OpenAIStubServer) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "qa",
            "schema": {"type": "object", "properties": {"question": {"type": "string"}, "score": {"type": "integer"}}},
        },
    }
    provider = build_provider(openai_config(server))

    as_object, as_schema = provider.generate(
        [ask("give json", response_format={"type": "json_object"}), ask("two words", response_format=schema)]
    )

    assert json.loads(as_object.text) == {"echo": "give json"}
    assert json.loads(as_schema.text) == {"question": "echo: two words", "score": 2}
    # Requests run concurrently, so match each body to its prompt rather than to arrival order.
    sent = {body["messages"][-1]["content"]: body["response_format"] for body in server.requests}
    assert sent == {"give json": {"type": "json_object"}, "two words": schema}


def test_api_key_comes_from_settings_or_a_placeholder(server: OpenAIStubServer, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    build_provider(openai_config(server)).generate([ask("no key")])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    build_provider(openai_config(server)).generate([ask("with key")])

    assert server.authorizations == ["Bearer not-needed", "Bearer sk-test-123"]


def test_a_rerun_is_answered_from_the_cache(server: OpenAIStubServer, tmp_path: Path) -> None:
    server.always("broken", Fault.server_error(500))
    config = openai_config(server, cache=True, cache_dir=tmp_path / "cache", max_retries=1)
    requests = [ask("alpha"), ask("beta"), ask("broken gamma")]

    first = build_provider(config).generate(requests)
    assert [r.ok for r in first] == [True, True, False] and server.request_count == 4

    server.reset()  # the outage is over
    rerun = build_provider(config)  # a new provider, as in a new pipeline run
    second = rerun.generate(requests)

    assert [r.text for r in second] == ["echo: alpha", "echo: beta", "echo: broken gamma"]
    assert [r.cached for r in second] == [True, True, False]  # the failure was not cached, so it is retried
    assert server.request_count == 1

    third = rerun.generate(requests)
    assert all(r.cached for r in third) and server.request_count == 1
    report = rerun.usage()
    assert (report.calls, report.cached) == (1, 5)


def test_cache_key_covers_sampling_but_not_the_label(server: OpenAIStubServer, tmp_path: Path) -> None:
    provider = build_provider(openai_config(server, cache=True, cache_dir=tmp_path))

    provider.generate([ask("same prompt", key="a")])
    relabelled, hotter = provider.generate([ask("same prompt", key="b"), ask("same prompt", temperature=0.7)])

    assert relabelled.cached and relabelled.key == "b"
    assert not hotter.cached
    assert server.request_count == 2


def test_another_endpoint_never_gets_this_endpoints_cached_answers(server: OpenAIStubServer, tmp_path: Path) -> None:
    """The probe: a run against a server answering 401 made no call and served answers cached from another server."""
    cached = build_provider(openai_config(server, cache=True, cache_dir=tmp_path))
    assert cached.generate([ask("shared prompt")])[0].text == "echo: shared prompt"

    with OpenAIStubServer(responder=lambda body: "the other server's answer") as other:
        other.always("shared", Fault.server_error(401))
        [refused] = build_provider(openai_config(other, cache=True, cache_dir=tmp_path)).generate(
            [ask("shared prompt")]
        )
        assert refused.error == "HTTP 401: injected server error" and not refused.cached
        assert other.count("shared") == 1

        other.reset()
        [fresh] = build_provider(openai_config(other, cache=True, cache_dir=tmp_path)).generate([ask("shared prompt")])
        assert fresh.text == "the other server's answer" and not fresh.cached

    # The same endpoint written differently (a trailing slash) is the same cache entry.
    same = openai_config(server, cache=True, cache_dir=tmp_path, base_url=server.base_url + "/")
    [again] = build_provider(same).generate([ask("shared prompt")])
    assert again.cached and again.text == "echo: shared prompt"
    assert server.request_count == 1


def test_identical_requests_in_one_batch_are_sent_once(server: OpenAIStubServer, tmp_path: Path) -> None:
    provider = build_provider(openai_config(server, cache=True, cache_dir=tmp_path))

    results = provider.generate([ask("twice", key="first"), ask("twice", key="second")])

    assert [r.key for r in results] == ["first", "second"]
    assert [r.text for r in results] == ["echo: twice"] * 2
    assert [r.cached for r in results] == [False, True]
    assert server.request_count == 1


def test_generate_works_inside_a_running_loop_and_from_a_thread(server: OpenAIStubServer) -> None:
    provider = build_provider(openai_config(server))

    async def from_async_code() -> str:
        return provider.generate([ask("inside a loop")])[0].text

    from_thread: list[str] = []
    worker = threading.Thread(target=lambda: from_thread.append(provider.generate([ask("in a thread")])[0].text))
    worker.start()
    worker.join()

    assert asyncio.run(from_async_code()) == "echo: inside a loop"
    assert from_thread == ["echo: in a thread"]


def test_a_one_slot_server_at_concurrency_16_is_served_at_its_capacity() -> None:
    """The probe: a llama.cpp server with one slot queues what it cannot serve; 16 in flight with a fixed fan-out
    timed out half the calls. Here 16 queued answers take 1.6 s, past the 1 s timeout: the limit must come down to
    what answers in time, with no request failing, and the slot must stay busy (within 10% of its capacity)."""
    service_s, count = 0.1, 80
    with OpenAIStubServer(slots=1, service_s=service_s) as server:
        config = openai_config(server, max_concurrency=16, timeout_s=1.0)
        build_provider(config).generate([ask("warm-up")])  # imports and the first connection, not the server's time
        server.reset()
        provider = build_provider(config)  # a fresh limit, starting at the ceiling

        started = time.perf_counter()
        results = provider.generate([ask(f"question {i}") for i in range(count)])
        elapsed = time.perf_counter() - started

    assert [r.text for r in results] == [f"echo: question {i}" for i in range(count)]
    assert all(r.ok for r in results)
    assert server.max_in_flight == 16  # it did start at the ceiling
    usage = provider.usage()
    assert usage.failed == 0 and usage.concurrency is not None and usage.concurrency < 16
    # Within 10% of capacity from the first request's arrival to the last answer: the slot was kept busy. The wall
    # clock also holds the client's start (its connections); on this shared 2-core box it measured 0.94-0.96.
    assert server.served >= count and server.served_per_s >= 0.9 * server.capacity_per_s, (server.served_per_s, usage)
    assert count / elapsed >= 0.85 * server.capacity_per_s, (count / elapsed, usage)


def test_a_server_that_rejects_beyond_its_slot_gets_fewer_requests_at_once() -> None:
    # A hosted API at its limit: every request beyond the one slot is answered 429 at once (no Retry-After).
    with OpenAIStubServer(slots=1, service_s=0.05, overflow="reject") as server:
        provider = build_provider(openai_config(server, max_concurrency=8, max_retries=8))
        results = provider.generate([ask(f"question {i}") for i in range(24)])

    assert all(r.ok for r in results) and server.served == 24
    assert provider.usage().lowest_concurrency == 1
    assert server.rejected < 24 * 2  # fewer than two refusals per answer: it stopped pushing 8 at a time


def test_a_500_with_a_body_is_reported_with_the_body(server: OpenAIStubServer) -> None:
    server.always("oom", Fault.server_error(500, body="CUDA out of memory. Tried to allocate 20.00 MiB"))
    server.always("gateway", Fault.server_error(404, body='{"detail": "model \'gpt-5\' not found"}',
                                                content_type="application/json"))  # fmt: skip
    provider = build_provider(openai_config(server, max_retries=1))

    oom, missing = provider.generate([ask("oom please"), ask("gateway please")])

    assert oom.error == "gave up after 2 attempts: HTTP 500: CUDA out of memory. Tried to allocate 20.00 MiB"
    assert oom.error_kind == "HTTP 500"
    assert missing.error == """HTTP 404: {"detail": "model 'gpt-5' not found"}""" and missing.attempts == 1
    assert missing.error_kind == "HTTP 404"


def test_a_closed_connection_is_reported_with_its_cause(server: OpenAIStubServer) -> None:
    server.always("dropped", Fault.disconnect())
    server.always("cut", Fault.disconnect(after_headers=True))
    provider = build_provider(openai_config(server, max_retries=1))

    dropped, cut = provider.generate([ask("dropped request"), ask("cut answer")])

    assert dropped.error_kind == cut.error_kind == "connection error"
    assert dropped.error == (
        "gave up after 2 attempts: connection error: RemoteProtocolError: Server disconnected without sending a "
        "response."
    )
    assert cut.error == (
        "gave up after 2 attempts: connection error: RemoteProtocolError: peer closed connection without sending "
        "complete message body (received 28 bytes, expected 1000)"
    )
    assert server.count("dropped") == server.count("cut") == 2


def test_requests_are_not_logged_one_line_each(server: OpenAIStubServer, caplog: pytest.LogCaptureFixture) -> None:
    """The probe: one `HTTP Request: POST ... "HTTP/1.1 200 OK"` INFO line per call, 79 in one run."""
    caplog.set_level(logging.INFO)  # the default level of a ZenML run
    server.always("broken", Fault.server_error(500))
    provider = build_provider(openai_config(server, max_retries=0))

    results = provider.generate([ask(f"question {i}") for i in range(5)] + [ask("broken one")])

    assert [r.ok for r in results] == [True] * 5 + [False]
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]  # httpx2 too
    assert not [r for r in caplog.records if "HTTP Request" in r.getMessage()]


def test_a_timeout_counts_from_sending_not_from_waiting_for_a_slot() -> None:
    # One request in flight, 0.6 s each: the third waits 1.2 s here before it is sent, past the 1 s timeout, and must
    # still get its whole second once sent.
    with OpenAIStubServer(latency_s=0.6) as server:
        provider = build_provider(openai_config(server, max_concurrency=1, timeout_s=1.0))
        results = provider.generate([ask(f"queued {i}") for i in range(3)])

    assert [(r.ok, r.attempts) for r in results] == [(True, 1)] * 3
    assert server.request_count == 3
