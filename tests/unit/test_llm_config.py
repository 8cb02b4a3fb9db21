"""The `llm:` config block: defaults run offline, mistakes name themselves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.domain.config.llm import LLMConfig


def test_defaults_are_the_offline_local_model() -> None:
    config = LLMConfig()
    assert (config.provider, config.model, config.temperature, config.cache) == (
        "local",
        "bundled:SmolLM2-135M-Instruct",
        0.0,
        True,
    )


def test_openai_without_base_url_says_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="provider 'openai' needs base_url"):
        LLMConfig(provider="openai", model="gpt-4o-mini")


def test_unknown_keys_and_bad_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="max_concurency"):
        LLMConfig(max_concurency=4)
    with pytest.raises(ValidationError, match="max_concurrency"):
        LLMConfig(max_concurrency=0)
    with pytest.raises(ValidationError, match="top_p"):
        LLMConfig(top_p=1.5)
