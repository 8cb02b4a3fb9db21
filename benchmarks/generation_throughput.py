"""Throughput of the OpenAI-compatible provider against a loopback server with a fixed 200 ms latency.

The peer here is the ideal: with N requests in flight and 200 ms per request, a client can reach N / 0.2 s.
We call 80% of that the target and print the ratio achieved / target per concurrency, then rerun with the
cache on to show a repeat makes no server call. Runs in well under a minute:

    .venv/bin/python benchmarks/generation_throughput.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support when run as a script

from llm_engineering.domain.config.llm import LLMConfig  # noqa: E402
from llm_engineering.infrastructure.llm import ChatRequest, build_provider  # noqa: E402
from tests.support.openai_server import OpenAIStubServer  # noqa: E402

LATENCY_S = 0.2
RUNS = [(1, 32), (8, 128), (32, 256)]  # (max_concurrency, requests): at least 8 full waves each past c=1
TARGET_FRACTION = 0.8


def requests(count: int, tag: str) -> list[ChatRequest]:
    return [
        ChatRequest(messages=[{"role": "user", "content": f"{tag} question {i}"}], key=str(i)) for i in range(count)
    ]


def config(server: OpenAIStubServer, concurrency: int, **overrides: object) -> LLMConfig:
    settings: dict = {"provider": "openai", "base_url": server.base_url, "model": "bench", "cache": False}
    return LLMConfig(**(settings | {"max_concurrency": concurrency} | overrides))


def main() -> None:
    rows = []
    with OpenAIStubServer(latency_s=LATENCY_S) as server:
        for concurrency, count in RUNS:
            server.reset()
            provider = build_provider(config(server, concurrency))
            started = time.perf_counter()
            results = provider.generate(requests(count, f"c{concurrency}"))
            elapsed = time.perf_counter() - started
            assert all(r.ok for r in results) and server.request_count == count
            achieved = count / elapsed
            target = TARGET_FRACTION * concurrency / LATENCY_S
            rows.append((concurrency, count, elapsed, achieved, target, server.max_in_flight))

        with tempfile.TemporaryDirectory() as cache_dir:
            cached_config = config(server, 32, cache=True, cache_dir=Path(cache_dir))
            batch = requests(256, "cached")
            server.reset()
            first_started = time.perf_counter()
            build_provider(cached_config).generate(batch)
            first_s, first_calls = time.perf_counter() - first_started, server.request_count
            server.reset()
            rerun = build_provider(cached_config)
            rerun_started = time.perf_counter()
            again = rerun.generate(batch)
            rerun_s, rerun_calls = time.perf_counter() - rerun_started, server.request_count
            assert all(r.cached for r in again)

    print(f"## Generation throughput: OpenAI-compatible provider, loopback server, {LATENCY_S * 1000:.0f} ms latency\n")
    print(
        "| concurrency | requests | seconds | achieved req/s | target req/s (0.8 x c / 0.2 s) | ratio | max in flight |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency, count, elapsed, achieved, target, in_flight in rows:
        print(
            f"| {concurrency} | {count} | {elapsed:.2f} | {achieved:.1f} | {target:.1f} | "
            f"{achieved / target:.2f} | {in_flight} |"
        )
    print("\n| cache (256 requests, c=32) | seconds | server calls |")
    print("|---|---:|---:|")
    print(f"| first run (cache filled) | {first_s:.2f} | {first_calls} |")
    print(f"| rerun (all hits) | {rerun_s:.3f} | {rerun_calls} |")
    worst = min(achieved / target for _, _, _, achieved, target, _ in rows)
    print(f"\nworst ratio achieved / target: {worst:.2f} ({'meets' if worst >= 1 else 'below'} target)")


if __name__ == "__main__":
    main()
