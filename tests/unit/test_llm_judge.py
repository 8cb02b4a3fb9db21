"""The optional LLM judge through the real OpenAI-compatible provider and the loopback stub server."""

from __future__ import annotations

import json

from llm_engineering.application.evaluation.judge import judge_answers
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm.factory import build_provider
from tests.support.openai_server import Fault, OpenAIStubServer, last_user_message


def grader(body: dict) -> str:
    """Accuracy 3 when the answer repeats the reference, 1 otherwise; one garbled verdict on request."""
    prompt = last_user_message(body)
    reference = prompt.split("Reference: ", 1)[1].split("\n", 1)[0]
    answer = prompt.split("Answer: ", 1)[1].split("\n", 1)[0]
    if "GARBLED" in answer:
        return "I think it is fine."
    return json.dumps({"accuracy": 3 if answer == reference else 1, "style": 2})


def test_judge_scores_through_our_provider_with_retries_and_counts_unparsable_verdicts(tmp_path):
    with OpenAIStubServer(responder=grader) as server:
        server.script("Answer: wrong", Fault.rate_limited(retry_after=0.1))
        provider = build_provider(
            LLMConfig(
                provider="openai", base_url=server.base_url, model="judge", cache_dir=tmp_path, backoff_base_s=0.01
            )
        )
        result = judge_answers(
            provider,
            ["What is LoRA?", "What is DPO?", "What is ORPO?"],
            ["Low-rank adapters.", "Preference optimisation.", "Odds ratios."],
            ["Low-rank adapters.", "wrong", "GARBLED"],
        )
        assert (result.accuracy, result.style, result.judged, result.unjudged) == (2.0, 2.0, 2, 1)
        assert server.count("Answer: wrong") == 2  # the 429 was retried
        assert all(r["response_format"] == {"type": "json_object"} for r in server.requests)
