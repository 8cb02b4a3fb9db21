"""The OpenAI-compatible client for the LLM judge; the key comes from settings (OPENAI_API_KEY)."""

from __future__ import annotations

from typing import Any

from llm_engineering.settings import get_settings


def judge_client_for(base_url: str) -> Any:
    from openai import OpenAI

    key = get_settings().openai_api_key
    return OpenAI(base_url=base_url, api_key=key.get_secret_value() if key else "not-needed", timeout=60)
