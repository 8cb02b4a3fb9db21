"""Throughput of the OpenAI-compatible provider against loopback servers, side by side with the raw `openai` client.

Two kinds of server, each measured in the same run with our provider and with the plain `openai.AsyncOpenAI`
client sending the same prompts (no retries, a semaphore for the fan-out):

- fixed latency (200 ms a request, any number at once: a batching server far from its limit). The ideal with N in
  flight is N / 0.2 s; the target is 80% of it, as before, and the raw client shows what the same fan-out reaches.
- one slot (100 ms a request, one at a time, the others queued in arrival order: llama.cpp's server with one slot).
  Its capacity is 10 answers a second whatever the fan-out. Sent 16 at a time with a 1 s timeout, the 16th waits
  1.5 s: a fixed fan-out times out. Ours adapts its fan-out; the ratio to capacity must reach 0.9. The raw client is
  shown twice: at 16 in flight with the same timeout (what a fixed fan-out does), and one at a time (the server's
  capacity as a client sees it).

Then the cache: a rerun makes no server call. About a minute:

    .venv/bin/python benchmarks/generation_throughput.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support when run as a script

import openai  # noqa: E402

from llm_engineering.domain.config.llm import LLMConfig  # noqa: E402
from llm_engineering.infrastructure.llm import ChatRequest, build_provider  # noqa: E402
from tests.support.openai_server import OpenAIStubServer  # noqa: E402

LATENCY_S = 0.2
RUNS = [(1, 32), (8, 128), (32, 256)]  # (max_concurrency, requests): at least 8 full waves each past c=1
TARGET_FRACTION = 0.8
SLOT_SERVICE_S = 0.1
SLOT_REQUESTS = 80
SLOT_CONCURRENCY = 16
SLOT_TIMEOUT_S = 1.0
SLOT_TARGET = 0.9


@dataclass
class Measured:
    seconds: float
    answered: int
    failed: int
    retries: int = 0
    concurrency: str = ""

    def per_s(self) -> float:
        return self.answered / self.seconds


def requests(count: int, tag: str) -> list[ChatRequest]:
    return [
        ChatRequest(messages=[{"role": "user", "content": f"{tag} question {i}"}], key=str(i)) for i in range(count)
    ]


def config(server: OpenAIStubServer, concurrency: int, **overrides: object) -> LLMConfig:
    settings: dict = {"provider": "openai", "base_url": server.base_url, "model": "bench", "cache": False}
    return LLMConfig(**(settings | {"max_concurrency": concurrency} | overrides))


def ours(llm: LLMConfig, batch: list[ChatRequest]) -> Measured:
    provider = build_provider(llm)
    started = time.perf_counter()
    results = provider.generate(batch)
    elapsed = time.perf_counter() - started
    usage = provider.usage()
    failed = sum(not r.ok for r in results)
    return Measured(elapsed, len(results) - failed, failed, usage.retries,
                    f"{usage.concurrency} (lowest {usage.lowest_concurrency})")  # fmt: skip


def raw_openai(server: OpenAIStubServer, concurrency: int, batch: list[ChatRequest], timeout_s: float) -> Measured:
    """The same prompts straight through `openai.AsyncOpenAI`: a semaphore for the fan-out, no retries."""

    async def send_all() -> list[bool]:
        client = openai.AsyncOpenAI(api_key="not-needed", base_url=server.base_url, timeout=timeout_s, max_retries=0)
        semaphore = asyncio.Semaphore(concurrency)

        async def send(request: ChatRequest) -> bool:
            async with semaphore:
                try:
                    await client.chat.completions.create(
                        model="bench", messages=request.messages, temperature=0.0, top_p=1.0, max_tokens=256
                    )
                    return True
                except openai.OpenAIError:
                    return False

        try:
            return list(await asyncio.gather(*(send(r) for r in batch)))
        finally:
            await client.close()

    started = time.perf_counter()
    answered = asyncio.run(send_all())
    elapsed = time.perf_counter() - started
    return Measured(elapsed, sum(answered), len(answered) - sum(answered), concurrency=str(concurrency))


def warm_up() -> None:
    """Imports and first connections of both clients, so neither pays them in a measured row."""
    with OpenAIStubServer() as server:
        ours(config(server, 1), requests(2, "warm"))
        raw_openai(server, 1, requests(2, "warm"), 5.0)


def fixed_latency_rows() -> list[tuple[int, int, Measured, Measured]]:
    rows = []
    with OpenAIStubServer(latency_s=LATENCY_S) as server:
        for concurrency, count in RUNS:
            server.reset()
            mine = ours(config(server, concurrency), requests(count, f"c{concurrency}"))
            assert mine.failed == 0 and server.request_count == count
            server.reset()
            raw = raw_openai(server, concurrency, requests(count, f"raw{concurrency}"), 60.0)
            rows.append((concurrency, count, mine, raw))
    return rows


def one_slot_rows() -> tuple[list[tuple[str, Measured, dict[str, int]]], float]:
    rows = []
    batch = requests(SLOT_REQUESTS, "slot")
    runs = [
        ("ours, adaptive (the default)", {}),
        ("ours, fixed fan-out (adaptive_concurrency: false)", {"adaptive_concurrency": False}),
    ]
    capacity = 0.0
    for label, overrides in runs:
        with OpenAIStubServer(slots=1, service_s=SLOT_SERVICE_S) as server:
            llm = config(server, SLOT_CONCURRENCY, timeout_s=SLOT_TIMEOUT_S, **overrides)
            rows.append((label, ours(llm, batch), _server_counts(server)))
            capacity = server.capacity_per_s
    for label, concurrency in (("raw openai client, 16 in flight", SLOT_CONCURRENCY), ("raw openai client, 1", 1)):
        with OpenAIStubServer(slots=1, service_s=SLOT_SERVICE_S) as server:
            rows.append((label, raw_openai(server, concurrency, batch, SLOT_TIMEOUT_S), _server_counts(server)))
    return rows, capacity


def _server_counts(server: OpenAIStubServer) -> dict[str, int]:
    return {"served": server.served, "dropped": server.dropped, "aborted": server.aborted}


def cache_rows() -> tuple[float, int, float, int]:
    with OpenAIStubServer(latency_s=LATENCY_S) as server, tempfile.TemporaryDirectory() as cache_dir:
        cached_config = config(server, 32, cache=True, cache_dir=Path(cache_dir))
        batch = requests(256, "cached")
        first_started = time.perf_counter()
        build_provider(cached_config).generate(batch)
        first_s, first_calls = time.perf_counter() - first_started, server.request_count
        server.reset()
        rerun = build_provider(cached_config)
        rerun_started = time.perf_counter()
        again = rerun.generate(batch)
        rerun_s, rerun_calls = time.perf_counter() - rerun_started, server.request_count
        assert all(r.cached for r in again)
    return first_s, first_calls, rerun_s, rerun_calls


def main() -> None:
    warm_up()
    fixed = fixed_latency_rows()
    slot, capacity = one_slot_rows()
    first_s, first_calls, rerun_s, rerun_calls = cache_rows()

    print(f"## Fixed latency ({LATENCY_S * 1000:.0f} ms a request, any number at once)\n")
    print("| concurrency | requests | ours s | ours req/s | raw openai s | raw req/s | ours / raw | "
          "target req/s (0.8 x c / 0.2 s) | ours / target | ours' limit at the end |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for concurrency, count, mine, raw in fixed:
        target = TARGET_FRACTION * concurrency / LATENCY_S
        print(
            f"| {concurrency} | {count} | {mine.seconds:.2f} | {mine.per_s():.1f} | {raw.seconds:.2f} | "
            f"{raw.per_s():.1f} | {mine.per_s() / raw.per_s():.2f} | {target:.1f} | {mine.per_s() / target:.2f} | "
            f"{mine.concurrency} |"
        )
    print(
        f"\n## One slot ({SLOT_SERVICE_S * 1000:.0f} ms a request, one at a time, the rest queued; capacity "
        f"{capacity:.0f}/s), {SLOT_REQUESTS} requests, timeout {SLOT_TIMEOUT_S:g} s\n"
    )
    print("| client | seconds | answered | failed | retries | answered/s | / capacity | in flight | "
          "served | dropped queued | aborted mid-answer |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for label, measured, counts in slot:
        print(
            f"| {label} | {measured.seconds:.2f} | {measured.answered} | {measured.failed} | {measured.retries} | "
            f"{measured.per_s():.2f} | {measured.per_s() / capacity:.2f} | {measured.concurrency} | "
            f"{counts['served']} | {counts['dropped']} | {counts['aborted']} |"
        )
    adaptive, sequential = slot[0][1], slot[-1][1]
    print(f"\nours (adaptive) / raw openai one at a time: {adaptive.per_s() / sequential.per_s():.2f}")
    print("\n| cache (256 requests, c=32) | seconds | server calls |")
    print("|---|---:|---:|")
    print(f"| first run (cache filled) | {first_s:.2f} | {first_calls} |")
    print(f"| rerun (all hits) | {rerun_s:.3f} | {rerun_calls} |")
    worst = min(mine.per_s() / (TARGET_FRACTION * c / LATENCY_S) for c, _, mine, _ in fixed)
    print(f"\nworst fixed-latency ratio ours / target: {worst:.2f} ({'meets' if worst >= 1 else 'below'} target)")
    ratio = adaptive.per_s() / capacity
    verdict = "meets" if ratio >= SLOT_TARGET and adaptive.failed == 0 else "below"
    print(f"one-slot ratio ours / capacity: {ratio:.2f}, {adaptive.failed} failed ({verdict} target {SLOT_TARGET})")


if __name__ == "__main__":
    main()
