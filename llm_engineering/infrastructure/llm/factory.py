"""From an `LLMConfig` to a ready provider: the only place that knows which class serves which provider."""

from __future__ import annotations

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm.base import LLMProvider
from llm_engineering.settings import get_settings


def build_provider(config: LLMConfig) -> LLMProvider:
    """Cheap: nothing connects or loads until the first `generate`. Wrapped in the disk cache when config.cache."""
    provider: LLMProvider
    if config.provider == "openai" and config.endpoints:
        from llm_engineering.infrastructure.llm.endpoint_pool import EndpointPool

        provider = EndpointPool(config)
    elif config.provider == "openai":
        from llm_engineering.infrastructure.llm.openai_compatible import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(config)
    else:
        from llm_engineering.infrastructure.llm.local_transformers import LocalTransformersProvider

        provider = LocalTransformersProvider(config)
    if config.cache:
        from llm_engineering.infrastructure.llm.response_cache import CachedProvider

        provider = CachedProvider(provider, config, config.cache_dir or get_settings().path("llm_cache"))
    return provider
