"""The LLM judge's provider: our OpenAI-compatible provider (retries, cache); key from OPENAI_API_KEY."""

from __future__ import annotations

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm.base import LLMProvider
from llm_engineering.infrastructure.llm.factory import build_provider


def judge_provider_for(base_url: str, model: str) -> LLMProvider:
    return build_provider(LLMConfig(provider="openai", base_url=base_url, model=model, temperature=0.0))
