"""Several OpenAI-compatible endpoints serving the same model (`llm.endpoints` besides `llm.base_url`), as one provider.

Request i goes to endpoint i mod n (deterministic: a rerun sends each prompt where it went before), every endpoint's
share runs at once, each through its own OpenAICompatibleProvider (its own retries and adaptive concurrency limit, so
a slow server slows only its share), and the results come back in request order. Requests are I/O: threads in the
step's process keep every server busy, so the fan-out needs no Ray workers (a Ray task per endpoint would only add
a process hop).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, Progressed, UsageReport
from llm_engineering.infrastructure.llm.openai_compatible import OpenAICompatibleProvider


class EndpointPool:
    def __init__(self, config: LLMConfig):
        urls = [config.base_url, *config.endpoints]
        self.config = config
        self.model_id = f"openai:{config.model}"
        self.providers = [
            OpenAICompatibleProvider(config.model_copy(update={"base_url": url, "endpoints": []})) for url in urls
        ]

    def generate(
        self, requests: list[ChatRequest], show_progress: bool = False, progress: Progressed | None = None
    ) -> list[ChatResult]:
        from llm_engineering.infrastructure.progress import Progress

        count = len(self.providers)
        shares = [requests[index::count] for index in range(count)]
        own = Progress(len(requests), f"generating ({self.model_id}, {count} endpoints)", "request",
                       enabled=show_progress and not progress and bool(requests))  # fmt: skip
        lock = threading.Lock()

        def advance(done: int) -> None:
            with lock:  # the endpoints' threads report at once
                (progress or own.update)(done)

        with own, ThreadPoolExecutor(max_workers=count) as pool:
            futures = [
                pool.submit(provider.generate, share, progress=advance)
                for provider, share in zip(self.providers, shares, strict=True)
                if share
            ]
            answered = [future.result() for future in futures]
        results: list[ChatResult | None] = [None] * len(requests)
        for index, share in enumerate(answered):
            results[index::count] = share
        return results  # type: ignore[return-value] - every slot filled

    def usage(self) -> UsageReport:
        reports = [provider.usage() for provider in self.providers]
        total = UsageReport()
        for report in reports:
            for field in ("calls", "cached", "failed", "retries", "prompt_tokens", "completion_tokens", "cost_usd"):
                setattr(total, field, getattr(total, field) + getattr(report, field))
        total.concurrency = sum(r.concurrency or 0 for r in reports)  # in flight across the pool
        total.lowest_concurrency = sum(r.lowest_concurrency or 0 for r in reports)
        return total
