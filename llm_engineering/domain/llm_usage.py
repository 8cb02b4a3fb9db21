"""What an LLM provider did: a typed part of the generation and curation artifacts (no dict read back by key)."""

from pydantic import BaseModel


class UsageReport(BaseModel):
    """What one provider did so far. `calls` are requests answered by the model, `cached` those the cache answered."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    concurrency: int | None = None  # an endpoint's adaptive limit of requests in flight, at the end
    lowest_concurrency: int | None = None  # ... and the lowest it went
