"""llm.endpoints: requests fanned out over several OpenAI-compatible servers, answers back in request order."""

from __future__ import annotations

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm import ChatRequest, build_provider
from tests.support.openai_server import OpenAIStubServer


def ask(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], key=text)


def test_a_pool_spreads_requests_over_its_endpoints_and_answers_in_order():
    requests = [ask(f"question {index}") for index in range(20)]
    with OpenAIStubServer() as first, OpenAIStubServer(latency_s=0.2) as slow, OpenAIStubServer() as third:
        single = build_provider(LLMConfig(provider="openai", base_url=first.base_url, model="m", cache=False))
        expected = [result.text for result in single.generate(requests)]
        first.reset()
        pool = build_provider(LLMConfig(provider="openai", base_url=first.base_url, model="m", cache=False,
                                        endpoints=[slow.base_url, third.base_url]))  # fmt: skip
        results = pool.generate(requests)
        assert [r.key for r in results] == [r.key for r in requests]
        assert [r.text for r in results] == expected and all(r.ok for r in results)
        assert (first.request_count, slow.request_count, third.request_count) == (7, 7, 6)  # i mod 3
        # Each endpoint's share is sent at once, so it arrives in any order: which requests, not their order.
        assert {r["messages"][0]["content"] for r in slow.requests} == {f"question {i}" for i in range(1, 20, 3)}
        assert pool.usage().calls == 20


def test_endpoints_need_the_openai_provider():
    try:
        LLMConfig(provider="local", endpoints=["http://127.0.0.1:1/v1"])
    except ValueError as error:
        assert "endpoints are for provider 'openai'" in str(error)
    else:
        raise AssertionError("a local provider with endpoints was accepted")
