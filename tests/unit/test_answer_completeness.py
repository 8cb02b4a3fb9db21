"""Whether an answer ended on the model's own stop or was cut off by its token budget: said by each provider, kept
by the cache (also for answers cached before it was recorded), and shown in the dataset report."""

from __future__ import annotations

from llm_engineering.application.dataset_curation import curate
from llm_engineering.application.dataset_publication import to_dataset_dict
from llm_engineering.application.dataset_report import render_dataset_report
from llm_engineering.application.sample_text import ends_mid_sentence
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.samples import PreferenceSample, RemovedSample
from llm_engineering.infrastructure.llm import ChatRequest
from llm_engineering.infrastructure.llm.local_transformers import LocalTransformersProvider
from llm_engineering.infrastructure.llm.openai_compatible import OpenAICompatibleProvider
from llm_engineering.infrastructure.llm.response_cache import (
    CachedProvider,
    ResponseCache,
    answerer_identity,
    cache_key,
)
from tests.support.openai_server import OpenAIStubServer


def ask(text: str, budget: int, key: str = "") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], max_new_tokens=budget, key=key)


def test_the_local_model_says_when_it_ran_out_of_tokens():
    provider = LocalTransformersProvider(LLMConfig(cache=False, batch_size=2))
    cut, done = provider.generate([ask("Explain LoRA in detail.", 4), ask("What is the capital of France?", 48)])
    assert (cut.finish_reason, cut.truncated, cut.usage.completion_tokens) == ("length", True, 4)
    assert (done.finish_reason, done.truncated) == ("stop", False) and done.usage.completion_tokens < 48


def test_the_cache_keeps_finish_reason_and_infers_it_for_older_entries(tmp_path):
    with OpenAIStubServer() as server:
        config = LLMConfig(provider="openai", base_url=server.base_url, model="stub", cache_dir=tmp_path)
        # Two answers cached before finish_reason was stored: one used its whole budget of 5 tokens, one did not.
        cache = ResponseCache(tmp_path)
        identity = answerer_identity(config)
        for text, tokens in (("full", 5), ("short", 2)):
            entry = {"text": f"{text} answer", "usage": {"prompt_tokens": 3, "completion_tokens": tokens}}
            cache.put_many({cache_key(identity, config, ask(text, 5)): entry})
        cache.close()
        provider = CachedProvider(OpenAICompatibleProvider(config), config, tmp_path)
        full, short = provider.generate([ask("full", 5), ask("short", 5)])
        assert (full.cached, full.finish_reason, short.finish_reason) == (True, "length", "stop")
        assert server.request_count == 0

        fresh = provider.generate([ask("new question", 5)])[0]  # the stub ends its answers itself
        again = provider.generate([ask("new question", 5)])[0]
        assert (fresh.cached, fresh.finish_reason) == (False, "stop")
        assert (again.cached, again.finish_reason) == (True, "stop") and server.request_count == 1


def pair(sample_id: str, chosen: str, rejected: str) -> PreferenceSample:
    return PreferenceSample(sample_id=sample_id, prompt="What does LoRA train?", chosen=chosen, rejected=rejected,
                            document_id=sample_id, chunk_id="c", source="s")  # fmt: skip


def test_the_report_compares_chosen_and_rejected_and_counts_the_dropped_pairs():
    assert ends_mid_sentence("It trains two small matrices and") and not ends_mid_sentence("Two small matrices.")
    assert not ends_mid_sentence("```python\nx = 1\n```") and not ends_mid_sentence("")
    kept = [
        pair("a", "Two small low-rank matrices per layer.", "It depends on many factors."),
        pair("b", "Low-rank adapters, while the base weights stay frozen.", "Generally, it trains the"),
    ]
    dropped = [RemovedSample(sample_id="c", stage="generation:complete_answers", reason="rejected answer truncated")]
    config = DatasetGenerationConfig.model_validate({"curation": {"stages": []}})
    samples, removed, report = curate("preference_dataset", kept, [], config, None, dropped=dropped,
                                      answers_generated=3, answers_truncated=1)  # fmt: skip
    assert samples == kept and removed == dropped and report.stages == []
    assert report.dropped_at_generation == {"rejected answer truncated": 1}

    html = render_dataset_report(report, to_dataset_dict(kept, [], "preference"), "preference")
    assert "<h2>Dropped at generation</h2><table><tr><td>rejected answer truncated</td><td>1</td></tr>" in html
    assert "<tr><td>chosen</td><td>2</td><td>7.0</td><td>7.0</td><td>0 (0%)</td></tr>" in html
    assert "<tr><td>rejected</td><td>2</td><td>4.5</td><td>4.5</td><td>1 (50%)</td></tr>" in html
    assert "this run generated 3 answers, 1 (33%) cut off by the token budget" in html
