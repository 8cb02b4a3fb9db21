"""Which LLM answers generation prompts, and how: one block, shared by every generating step."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from llm_engineering.domain.config.base import StrictModel


class LLMConfig(StrictModel):
    provider: Literal["local", "openai"] = "local"
    model: str = Field("bundled:SmolLM2-135M-Instruct", description="for openai: the served model name")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    endpoints: list[str] = Field(
        [],
        description="more endpoints serving the same model (a pool with base_url): request i goes to endpoint "
        "i mod n, each with its own max_concurrency limit; cached answers stay keyed by base_url",
    )
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1, description="prompts per forward pass of the local model")
    max_concurrency: int = Field(
        8, ge=1, description="the most requests in flight at once to an openai endpoint (the adaptive limit's ceiling)"
    )
    adaptive_concurrency: bool = Field(
        True,
        description="start at max_concurrency and send fewer at once when the server is overloaded (timeouts, 429, "
        "503) or answers slower than timeout_s / 2 (requests queue there), growing back as answers come in time; "
        "false: always max_concurrency",
    )
    timeout_s: float = Field(
        60.0, gt=0.0, description="an attempt's deadline, from when it is sent (not while it waits for a slot here)"
    )
    retry_timeout_factor: float = Field(
        2.0, ge=1.0, description="attempts after a timeout get timeout_s times this; a timeout always gets one"
    )
    max_retries: int = Field(4, ge=0, description="retries after the first attempt, for transient failures")
    backoff_base_s: float = Field(0.5, ge=0.0)
    backoff_max_s: float = Field(30.0, ge=0.0)
    cost_per_million_input_tokens: float = Field(0.0, ge=0.0)
    cost_per_million_output_tokens: float = Field(0.0, ge=0.0)
    cache: bool = True
    cache_dir: Path | None = Field(None, description="defaults to <data_dir>/llm_cache")
    seed: int = 0

    @model_validator(mode="after")
    def _endpoint_for_openai(self) -> LLMConfig:
        if self.provider == "openai" and not self.base_url:
            raise ValueError(
                "provider 'openai' needs base_url (the OpenAI-compatible endpoint, e.g. http://localhost:8000/v1)"
            )
        if self.endpoints and self.provider != "openai":
            raise ValueError("endpoints are for provider 'openai' (a pool of OpenAI-compatible servers)")
        return self
