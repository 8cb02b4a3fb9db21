"""The default local provider: SmolLM2-135M-Instruct, batched and greedy on CPU."""

from __future__ import annotations

import pytest

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm import ChatRequest, build_provider
from llm_engineering.infrastructure.llm.local_transformers import LocalTransformersProvider

PROMPTS = ["What is the capital of France?", "Name one primary colour.", "Say hello in Spanish."]


@pytest.fixture(scope="module")
def provider() -> LocalTransformersProvider:
    # Converts the bundled GGUF once per session under the session data dir (~20 s), then loads the safetensors.
    return LocalTransformersProvider(LLMConfig(max_new_tokens=16, batch_size=3, cache=False))


def requests() -> list[ChatRequest]:
    return [ChatRequest(messages=[{"role": "user", "content": p}], key=f"q{i}") for i, p in enumerate(PROMPTS)]


def test_constructing_loads_nothing() -> None:
    from llm_engineering.infrastructure.llm.local_transformers import _load

    before = _load.cache_info().currsize
    build_provider(LLMConfig(cache=False))
    assert _load.cache_info().currsize == before


def test_a_batch_of_three_is_answered_greedily_and_deterministically(provider: LocalTransformersProvider) -> None:
    first = provider.generate(requests())
    second = provider.generate(list(reversed(requests())))

    assert [r.key for r in first] == ["q0", "q1", "q2"]
    assert all(r.ok and r.text.strip() and r.attempts == 1 for r in first)
    assert "Paris" in first[0].text
    assert [r.text for r in reversed(second)] == [r.text for r in first]  # greedy: order and batching do not matter
    assert all(0 < r.usage.completion_tokens <= 16 and r.usage.prompt_tokens > 5 for r in first)
    report = provider.usage()
    assert (report.calls, report.failed, report.cost_usd) == (6, 0, 0.0)


def test_progress_counts_each_batch_as_it_is_generated(provider: LocalTransformersProvider) -> None:
    counts: list[int] = []
    results = provider.generate([*requests(), requests()[0]], progress=counts.append)  # batches of 3
    assert counts == [3, 1] and all(result.ok for result in results)


def test_backtranslation_with_the_local_model_on_real_chunks(provider: LocalTransformersProvider) -> None:
    """The default generation path end to end on two passages of a sample article: SmolLM2 writes the
    questions, the answers are the passages themselves, and every request is a sample, a recorded failure with its
    raw output, or a question cut off by its 32-token budget (dropped, with its text)."""
    from llm_engineering.application.dataset_generation.extracts import build_extracts
    from llm_engineering.application.dataset_generation.instructions import generate_instructions
    from llm_engineering.domain.config.dataset_generation import (
        ExtractConfig,
        InstructionGenerationConfig,
        PromptFiles,
    )
    from llm_engineering.domain.documents import Chunk
    from tests.conftest import SAMPLE_CORPUS

    text = (SAMPLE_CORPUS / "articles" / "lora-in-practice.md").read_text()
    chunk = Chunk(chunk_id="c0", document_id="lora", source="articles", location="lora-in-practice.md",
                  chunk_index=0, text=text[:1400], token_count=300, content_hash="h")  # fmt: skip
    extracts = build_extracts([chunk], ExtractConfig())
    config = InstructionGenerationConfig(pairs_per_extract=2, max_new_tokens=32)
    result = generate_instructions(extracts, provider, config, PromptFiles())
    assert len(result.samples) + len(result.failures) + len(result.dropped) == 2
    assert all(d.reason == "question truncated" and d.text for d in result.dropped)
    for sample in result.samples:
        assert all(paragraph in text for paragraph in sample.answer.split("\n\n"))  # the author's own words
        assert sample.instruction and len(sample.instruction) <= 300
    for failure in result.failures:
        assert failure.error.startswith("after repair") and failure.raw_output


def test_an_interruption_stops_the_batch_instead_of_being_counted_as_failed_prompts() -> None:
    """The probe: ZenML's SIGTERM handler raised inside generation, the provider took it for a bad prompt, retried
    every prompt one by one and the step ran on for minutes. A real error still fails only its prompt."""
    from zenml.exceptions import RunInterruptedException

    class Tokenizer:  # the third-party object the signal lands in
        def __init__(self, error: Exception) -> None:
            self.error, self.calls = error, 0

        def __call__(self, *args: object, **kwargs: object) -> None:
            self.calls += 1
            raise self.error

    provider = LocalTransformersProvider(LLMConfig(cache=False))
    interrupted = Tokenizer(RunInterruptedException("The execution was interrupted."))
    with pytest.raises(RunInterruptedException):
        provider._generate_batch(interrupted, None, ["a", "b", "c"], 0.0, 4, 0)
    assert interrupted.calls == 1  # not retried prompt by prompt
    broken = Tokenizer(ValueError("bad prompt"))
    results = provider._generate_batch(broken, None, ["a", "b"], 0.0, 4, 0)
    assert [error for _, _, error, _ in results] == ["ValueError: bad prompt"] * 2 and broken.calls == 3
