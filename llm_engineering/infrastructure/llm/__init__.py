"""LLM providers behind one interface: `build_provider(LLMConfig)` -> `LLMProvider`."""

from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, LLMProvider, Usage, UsageReport
from llm_engineering.infrastructure.llm.factory import build_provider

__all__ = ["ChatRequest", "ChatResult", "LLMProvider", "Usage", "UsageReport", "build_provider"]
