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

With --real-server, instead: a real llama.cpp server (llama-cpp-python's, which answers one request at a time) on the
bundled SmolLM2-135M GGUF, and the shipped configs/feature_engineering-openai.yaml run for real in a fresh ZenML
store over --articles sample articles, its concurrency and timeouts as shipped. A loopback proxy in front of the
server records each request's body, when it went out and when its answer came back, and the server's log its own
service time of each computation. Ratio = the server's service time of the answered requests / the span from a
generation step's first request to its last answer (target 0.9): the one slot's share of time spent on answers
ours kept, measured under the box's load of that moment (idle gaps, queued requests dropped and answers computed
for a client that had timed out all lower it). The answered requests are then replayed straight to the server with
the `openai` client, one at a time, in the order the server answered them, for comparison (same completions at
temperature 0; on a busy box the load moves between the two, see benchmarks/RESULTS.md). 8-15 minutes:

    .venv/bin/python benchmarks/generation_throughput.py --real-server [--articles 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
ROOT = Path(__file__).resolve().parents[1]
REAL_CONFIG = ROOT / "configs" / "feature_engineering-openai.yaml"
REAL_ALIAS = "smollm2-135m"  # the model name the server serves and the overridden config sends
LLM_STEPS = ("generate_instruction_samples", "generate_preference_samples", "curate_instruction_samples",
             "curate_preference_samples")  # fmt: skip


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


# ---------------------------------------------------------------- --real-server: llama.cpp's server, the shipped config


@dataclass
class Exchange:
    """One HTTP request through the proxy: when its body had gone out, when its answer's last byte came back (None:
    the client left first), the answer's status, and both JSON bodies."""

    path: str
    request: dict
    sent: float
    answered: float | None = None
    status: int | None = None
    answer: dict = field(default_factory=dict)


class RecordingProxy:
    """A loopback TCP proxy in front of the server that reads the HTTP/1.1 it passes on (Content-Length framing,
    keep-alive). Bytes go through as they are; a client that goes away closes the proxy's connection to the server
    too, so the server sees the disconnect as it would without the proxy (llama-cpp-python's server drops a queued
    request whose client has gone, and finishes one it is computing)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.exchanges: list[Exchange] = []  # in the order they were sent
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        waiting: deque[Exchange] = deque()

        async def upward() -> None:
            try:
                while True:
                    head, body = await _http_message(client_in)
                    server_out.write(head + body)
                    await server_out.drain()
                    path = head.split(b" ", 2)[1].decode()
                    exchange = Exchange(path, json.loads(body) if body else {}, time.time())
                    waiting.append(exchange)
                    self.exchanges.append(exchange)
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                server_out.close()  # the client has gone: so has the server's client

        async def downward() -> None:
            try:
                while True:
                    head, body = await _http_message(server_in)
                    client_out.write(head + body)
                    await client_out.drain()
                    exchange = waiting.popleft()
                    exchange.answered, exchange.status = time.time(), int(head.split(b" ", 2)[1])
                    exchange.answer = json.loads(body) if body.startswith(b"{") else {}
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, IndexError):
                pass
            finally:
                client_out.close()

        await asyncio.gather(upward(), downward())


async def _http_message(stream: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await stream.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    return head, await stream.readexactly(length)


class ServerLogClock:
    """Reads the server's log as it is written and times each finished computation: llama-cpp-python prints
    `llama_perf_context_print: total time = X ms` once per completion (one whose client has gone too). Those are
    the server's own service times, measured while the pipeline runs: the capacity under the load of that moment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: list[tuple[float, float]] = []  # (when it was printed, seconds of service)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> ServerLogClock:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _follow(self) -> None:
        with self.path.open(errors="replace") as log:
            log.seek(0, os.SEEK_END)
            while not self._stop.is_set():
                line = log.readline()
                if not line:
                    time.sleep(0.02)
                elif "total time =" in line:
                    self.done.append((time.time(), float(line.split("=", 1)[1].split("ms")[0]) / 1000))

    def service_between(self, start: float, end: float, answers: list[float]) -> tuple[float, float]:
        """(seconds serving the given answers, seconds serving anything) of the computations finished in the window;
        an answer is the computation that finished within 1 s before it came back."""
        window = [(at, seconds) for at, seconds in self.done if start <= at <= end + 1.0]
        useful, unmatched = 0.0, sorted(answers)
        for at, seconds in window:
            match = next((a for a in unmatched if at - 0.2 <= a <= at + 1.0), None)
            if match is not None:
                unmatched.remove(match)
                useful += seconds
        return useful, sum(seconds for _, seconds in window)


@dataclass
class StepLoad:
    """What one pipeline step asked of the server, through the proxy."""

    step: str
    sent: int  # HTTP requests, retries included
    answered: list[Exchange]  # 200 answers the client received
    abandoned: int  # the client left before an answer (timed out): queued ones dropped, or computed for nothing
    errors: int  # non-200 answers received
    span_s: float  # from the step's first request to its last answer
    served_s: float = 0.0  # the server's own service time of the answered requests, in that span
    busy_s: float = 0.0  # ... of every computation in it (answers thrown away by a timed-out client too)


def _epoch(moment: datetime) -> float:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def real_server_part(articles: int, workdir: Path) -> None:
    from llm_engineering.application.pipeline_runner import load_for, run_pipeline
    from llm_engineering.application.run_config import read_yaml
    from llm_engineering.infrastructure import model_server
    from llm_engineering.infrastructure.bundled_models import smollm2_gguf

    shipped = read_yaml(REAL_CONFIG)["parameters"]
    stages = shipped["datasets"]["curation"]["stages"]
    judge = next(index for index, stage in enumerate(stages) if stage["kind"] == "judge")
    member = f"datasets.curation.stages.{judge}.jury.members.0.llm"
    llm, member_llm = shipped["datasets"]["llm"], stages[judge]["jury"]["members"][0]["llm"]
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True)
    names = sorted(p.name for p in (ROOT / "sample_corpus" / "articles").glob("*.md"))[:articles]
    for name in names:
        shutil.copy(ROOT / "sample_corpus" / "articles" / name, corpus / name)
    folder, file = smollm2_gguf()
    spec = model_server.ServerSpec("llama_cpp", folder / file, REAL_ALIAS, port=_free_port())
    print(f"## Real llama.cpp server (llama-cpp-python {_version('llama_cpp')}, one request at a time), SmolLM2-135M "
          f"{file}, n_ctx {spec.n_ctx}, its default threads\n")  # fmt: skip
    print(f"{os.cpu_count()} cores; the shipped {REAL_CONFIG.relative_to(ROOT)} over {articles} sample articles "
          f"({', '.join(names)}); as shipped: datasets.llm max_concurrency {llm['max_concurrency']}, timeout_s "
          f"{llm.get('timeout_s')}, max_retries {llm.get('max_retries')}, max_new_tokens {llm['max_new_tokens']}, "
          f"temperature {llm['temperature']}; judge member max_concurrency {member_llm.get('max_concurrency')}, "
          f"timeout_s {member_llm.get('timeout_s', 'default')}\n")  # fmt: skip
    print(f"load before the pipeline: `{_uptime()}`", flush=True)
    server = model_server.start(spec, workdir / "server.log")
    try:
        with RecordingProxy(spec.port) as proxy, ServerLogClock(workdir / "server.log") as clock:
            settings = [
                f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]",
                f"qdrant.path={workdir / 'qdrant'}",
                f"datasets.llm.base_url={proxy.base_url}",
                f"datasets.llm.model={REAL_ALIAS}",
                f"datasets.llm.cache_dir={workdir / 'llm_cache'}",
                f"{member}.base_url={proxy.base_url}",
                f"{member}.model={REAL_ALIAS}",
                f"{member}.cache_dir={workdir / 'llm_cache'}",
                "datasets.incremental=false",
                # SmolLM2-135M writes an empty question for most extracts and no verdict as the judge: the shipped
                # quality budgets would stop the run (generations 0.5, unjudged 0.2). Raised, so every LLM step runs;
                # concurrency, timeouts and retries as shipped.
                "datasets.max_failed_fraction=1.0",
                f"datasets.curation.stages.{judge}.jury.max_unjudged_fraction=1.0",
                "embedding.show_progress=false",
            ]
            started = time.perf_counter()
            try:
                run = run_pipeline("feature_engineering", load_for("feature_engineering", REAL_CONFIG, settings))
            except RuntimeError as error:  # a failed step: its run is in the store all the same
                from zenml.client import Client

                print(f"the run failed: {error}")
                run = Client().get_pipeline("feature_engineering").last_run
            wall = time.perf_counter() - started
        print(f"load after the pipeline: `{_uptime()}`", flush=True)
        loads = [_step_load(name, run.steps[name], proxy.exchanges, clock) for name in LLM_STEPS if name in run.steps]
        replayed = {load.step: replay(spec.url, load.answered) for load in loads if load.answered}
        print(f"load after the replay: `{_uptime()}`\n")
    finally:
        server.stop()
    print(f"pipeline run: {run.status} in {wall:.0f} s (ZenML store and data dir in {workdir})\n")
    print("| step | requests sent | answered | abandoned (client timed out) | errors | failed (step) | retries "
          "(step) | limit at end (lowest) | ours s | ours answers/s | server's service of those answers s (busy s) | "
          "**ours / capacity (server's own times)** | replayed one at a time s | same completions | ours / capacity "
          "(replayed) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    span = served = replay_s = 0.0
    failed_total = 0
    for load in loads:
        headline = load.step.startswith("generate_")
        metadata = run.steps[load.step].run_metadata
        failed = metadata.get("llm_failed", 0)
        limit = f"{metadata.get('llm_concurrency', '-')} ({metadata.get('llm_lowest_concurrency', '-')})"
        row = f"| {load.step} | {load.sent} | {len(load.answered)} | {load.abandoned} | {load.errors} | {failed} | "
        row += f"{metadata.get('llm_retries', '-')} | {limit} | "
        if load.step not in replayed:
            print(row + "| | | | | | |")
            continue
        seconds, _, same = replayed[load.step]
        if headline:
            failed_total += failed
            span, served, replay_s = span + load.span_s, served + load.served_s, replay_s + seconds
        print(
            row + f"{load.span_s:.1f} | {len(load.answered) / load.span_s:.3f} | {load.served_s:.1f} "
            f"({load.busy_s:.1f}) | **{load.served_s / load.span_s:.2f}** | {seconds:.1f} | "
            f"{same}/{len(load.answered)} | {seconds / load.span_s:.2f} |"
        )
    ratio = served / span if span else 0.0
    verdict = "meets" if ratio >= SLOT_TARGET and failed_total == 0 and run.status == "completed" else "below"
    print("\n(the curate steps' calls come in stages with other work between them: shown, not in the ratio)")
    print(f"generation steps: {span:.1f} s from first request to last answer, the server's service of the answers "
          f"{served:.1f} s: ours / capacity {ratio:.2f}; replayed one at a time afterwards {replay_s:.1f} s: "
          f"{replay_s / span if span else 0:.2f}; {failed_total} failed calls, run {run.status} ({verdict} target "
          f"{SLOT_TARGET})")  # fmt: skip


def _step_load(name: str, step: object, exchanges: list[Exchange], clock: ServerLogClock) -> StepLoad:
    start, end = _epoch(step.start_time), _epoch(step.end_time)  # type: ignore[attr-defined]
    mine = [e for e in exchanges if start <= e.sent <= end and e.path.endswith("/chat/completions")]
    answered = [e for e in mine if e.status == 200]
    span = max((e.answered for e in mine if e.answered), default=start) - min((e.sent for e in mine), default=start)
    abandoned = sum(e.answered is None for e in mine)
    errors = sum(e.status not in (None, 200) for e in mine)
    first = min((e.sent for e in mine), default=start)
    served, busy = clock.service_between(first, first + span, [e.answered for e in answered if e.answered])
    ordered = sorted(answered, key=lambda e: e.answered or 0.0)
    return StepLoad(name, len(mine), ordered, abandoned, errors, span, served, busy)


def replay(url: str, answered: list[Exchange]) -> tuple[float, int, int]:
    """The answered requests again, straight to the server with the `openai` client, one at a time, in the order the
    server answered them: (seconds, completion tokens, answers identical to the pipeline's)."""
    client = openai.OpenAI(api_key="not-needed", base_url=f"{url}/v1", timeout=600, max_retries=0)
    tokens = same = 0
    started = time.perf_counter()
    for exchange in answered:
        answer = client.chat.completions.create(**exchange.request)
        tokens += answer.usage.completion_tokens if answer.usage else 0
        ours = exchange.answer.get("choices", [{}])[0].get("message", {}).get("content")
        same += answer.choices[0].message.content == ours
    seconds = time.perf_counter() - started
    client.close()
    return seconds, tokens, same


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package.replace("_", "-") + "-python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real-server", action="store_true", help="only the real llama.cpp server part")
    parser.add_argument("--articles", type=int, default=2, help="--real-server: sample articles the pipeline reads")
    args = parser.parse_args()
    if args.real_server:
        workdir = Path(tempfile.mkdtemp(prefix="bench-generation-real-"))
        os.environ.update(
            LLM_ENGINEERING_DATA_DIR=str(workdir / "data"), ZENML_CONFIG_PATH=str(workdir / "zenml"),
            ZENML_ANALYTICS_OPT_IN="false", ZENML_LOGGING_VERBOSITY="WARN", HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
        )  # fmt: skip
        real_server_part(args.articles, workdir)
        return
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
