"""GGUF export and serving of SmolLM2-135M-Instruct: file size, conversion and load time, and fidelity per
quantization; tokens/s served by `llm-engineering serve`'s server (through our OpenAI-compatible provider) against
llama.cpp itself on the same file (llama_cpp.Llama in this process: the library under the server, no HTTP); and,
with --parts roundtrip, the loop train -> promote -> serve -> feature pipeline on the tiny test model.

The safetensors model is the bundled GGUF (Q4_1) loaded into transformers and saved as float32: the reference every
GGUF is compared with (max |logit difference| as a share of max |logit|, and top-1 agreement, over every position of
a few prompts, read by llama.cpp). About 5 minutes on 2 cores:

    .venv/bin/python benchmarks/gguf_serving.py [--parts export,throughput] [--requests 6] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support when run as a script

from llm_engineering.application.gguf_export import export_gguf  # noqa: E402
from llm_engineering.domain.config.gguf_export import GgufExportConfig  # noqa: E402

QUANTIZATIONS = ["f16", "q8_0", "q4_k_m", "q4_0"]
PROMPTS = [
    "Explain LoRA in one sentence.",
    "What does a vector database store?",
    "<|im_start|>user\nWhy fine-tune a small model on your own writing?<|im_end|>\n<|im_start|>assistant\n",
    "The feature pipeline crawls documents, cleans them and",
]
QUESTIONS = [
    "What is LoRA, and why does it need less memory than full fine-tuning?",
    "Explain what a vector database is used for in a retrieval pipeline.",
    "Give three tips for writing clear technical documentation.",
    "What is the difference between supervised fine-tuning and preference alignment?",
    "Why does deduplicating a training dataset matter?",
    "Describe what a tokenizer does.",
]
THREADS = 1  # llama-cpp-python's server default here (cpu_count // 2); --threads changes it for both sides


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores ({cpu}) · `{uptime}`"


def smollm2_folder(root: Path) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder with float32 safetensors, from the bundled GGUF."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_engineering.infrastructure.bundled_models import smollm2_gguf

    folder = root / "smollm2-135m"
    if (folder / "model.safetensors").is_file():
        return folder
    gguf_folder, gguf_file = smollm2_gguf()
    loaded = AutoModelForCausalLM.from_pretrained(gguf_folder, gguf_file=gguf_file, dtype=torch.float32)
    config = loaded.config  # transformers refuses to save a model loaded from GGUF: a fresh one with its weights
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_file).save_pretrained(folder)
    return folder


def fidelity(folder: Path, gguf: Path) -> tuple[float, float]:
    """(max |logit diff| / max |logit|, top-1 agreement) of llama.cpp on `gguf` against transformers on `folder`."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reference = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    llm = Llama(model_path=str(gguf), logits_all=True, n_ctx=256, n_threads=THREADS, verbose=False)
    worst, agree, total = 0.0, 0, 0
    try:
        for prompt in PROMPTS:
            ids = tokenizer(prompt).input_ids
            llm.reset()
            llm.eval(ids)
            actual = np.array(llm.scores[: len(ids)])
            with torch.no_grad():
                expected = reference(torch.tensor([ids])).logits[0].numpy()
            worst = max(worst, float(np.abs(expected - actual).max() / np.abs(expected).max()))
            agree += int((expected.argmax(-1) == actual.argmax(-1)).sum())
            total += len(ids)
    finally:
        llm.close()
    return worst, agree / total


def load_seconds(gguf: Path, repeats: int = 3) -> float:
    from llama_cpp import Llama

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=THREADS, verbose=False)
        times.append(time.perf_counter() - started)
        llm.close()
    return statistics.median(times)


def export_part(folder: Path, out: Path) -> dict[str, Path]:
    import shutil

    work = out / "export"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(folder, work)
    stamps: list[float] = [time.perf_counter()]
    files = export_gguf(
        work, "smollm2-135m", GgufExportConfig(enabled=True, quantizations=QUANTIZATIONS),
        on_file=lambda _: stamps.append(time.perf_counter()),
    )  # fmt: skip
    weights = (work / "model.safetensors").stat().st_size
    print(f"\nsafetensors (float32): {weights / 2**20:.1f} MiB\n")
    print("| quantization | written by | size MiB | vs f16 | export s | load s (median of 3) | max abs logit diff / "
          "max abs logit | top-1 agreement |\n|---|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    f16_size = next(f.size_bytes for f in files if f.quantization == "f16")
    paths = {}
    for index, described in enumerate(files):
        path = work / described.file
        paths[described.quantization] = path
        share, agreement = fidelity(folder, path)
        by = "converter" if described.quantization in ("f16", "q8_0") else "quantizer (from the f16)"
        print(
            f"| {described.quantization} | {by} | {described.size_bytes / 2**20:.1f} | "
            f"{described.size_bytes / f16_size:.2f} | {stamps[index + 1] - stamps[index]:.1f} | "
            f"{load_seconds(path):.2f} | {share:.2e} | {agreement:.3f} |",
            flush=True,
        )
    return paths


def throughput_part(paths: dict[str, Path], max_tokens: int, requests: int, out: Path) -> None:
    """Per file: the same chat requests to llama.cpp in this process (llama_cpp.Llama: the library under the server,
    no HTTP) and to our server through our OpenAI-compatible provider, interleaved request by request (the order
    swapped every other one), so that the box's changing load falls on both alike; medians of per-request tok/s."""
    from llama_cpp import Llama

    from llm_engineering.domain.config.llm import LLMConfig
    from llm_engineering.infrastructure import model_server
    from llm_engineering.infrastructure.llm import build_provider

    print(
        f"\n{requests} chat requests per side, one at a time, greedy, max_tokens {max_tokens}, {THREADS} threads on "
        "both sides, interleaved; tok/s = completion tokens / wall time of the request, median over the requests\n"
    )
    print("| file | llama.cpp direct tok/s | llama.cpp's own decode tok/s (its perf counters) | served tok/s (provider "
          "-> HTTP -> server) | served / direct | completion tokens direct, served |\n"
          "|---|---:|---:|---:|---:|---|")  # fmt: skip
    for quantization in ("q8_0", "f16", "q4_k_m"):
        if quantization not in paths:
            continue
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        spec = model_server.ServerSpec("llama_cpp", paths[quantization], "smollm2", port=port, threads=THREADS)
        server = model_server.start(spec, out / "server.log")
        llm = Llama(model_path=str(paths[quantization]), n_ctx=2048, n_threads=THREADS, verbose=False)
        config = LLMConfig(
            provider="openai", base_url=f"{server.url}/v1", model="smollm2", max_new_tokens=max_tokens, cache=False,
            max_concurrency=1, adaptive_concurrency=False, timeout_s=600, max_retries=0,
        )  # fmt: skip
        provider = build_provider(config)
        direct: list[tuple[float, float, int]] = []
        served: list[tuple[float, int]] = []
        try:
            for index in range(requests):
                question = QUESTIONS[index % len(QUESTIONS)]
                if index % 2:
                    served.append(served_request(provider, question, str(index)))
                direct.append(direct_request(llm, question, max_tokens))
                if not index % 2:
                    served.append(served_request(provider, question, str(index)))
        finally:
            llm.close()
            server.stop()
        median_direct = statistics.median(rate for rate, _, _ in direct)
        median_served = statistics.median(rate for rate, _ in served)
        print(
            f"| {quantization} | {median_direct:.1f} | {statistics.median(own for _, own, _ in direct):.1f} | "
            f"{median_served:.1f} | {median_served / median_direct:.2f} | {sum(t for _, _, t in direct)}, "
            f"{sum(t for _, t in served)} |",
            flush=True,
        )


def direct_request(llm, question: str, max_tokens: int) -> tuple[float, float, int]:  # noqa: ANN001 - a Llama
    """(completion tokens / wall s, llama.cpp's own decode tokens/s, completion tokens) of one chat request."""
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llm.ctx)  # no llm.reset(): the server's Llama keeps its cache too (prefix reuse)
    started = time.perf_counter()
    answer = llm.create_chat_completion([{"role": "user", "content": question}], max_tokens=max_tokens, temperature=0)
    seconds = time.perf_counter() - started
    perf = llama_cpp.llama_perf_context(llm.ctx)
    tokens = answer["usage"]["completion_tokens"]
    return tokens / seconds, perf.n_eval / (perf.t_eval_ms / 1000), tokens


def served_request(provider, question: str, key: str) -> tuple[float, int]:  # noqa: ANN001 - an LLMProvider
    """(completion tokens / wall s, completion tokens) of one request through our provider and the server."""
    from llm_engineering.infrastructure.llm import ChatRequest

    started = time.perf_counter()
    [result] = provider.generate([ChatRequest(messages=[{"role": "user", "content": question}], key=key)])
    seconds = time.perf_counter() - started
    assert result.ok, result.error
    return result.usage.completion_tokens / seconds, result.usage.completion_tokens


def roundtrip_part(root: Path, articles: int) -> None:
    """train -> promote -> serve -> feature pipeline, each through the CLI as `make` runs it, in a fresh ZenML store
    and data dir: SmolLM2 trained a few steps (SFT 2, DPO 1) on the tests' tiny datasets, exported as q8_0, promoted
    (no gates), served, then the self config's feature run over `articles` sample articles."""
    import json
    import shutil

    import yaml

    work = root / "roundtrip"
    if work.exists():
        shutil.rmtree(work)
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    for name in sorted(p.name for p in (Path("sample_corpus") / "articles").glob("*.md"))[:articles]:
        shutil.copy(Path("sample_corpus") / "articles" / name, corpus / name)
    env = {**os.environ, "ZENML_CONFIG_PATH": str(work / "zenml"), "LLM_ENGINEERING_DATA_DIR": str(work / "data"),
           "ZENML_ANALYTICS_OPT_IN": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "COMET_START_ONLINE": "false", "ZENML_LOGGING_VERBOSITY": "WARN"}  # fmt: skip
    cli = [str(Path(sys.executable).with_name("llm-engineering"))]
    timings: list[tuple[str, float, int]] = []

    def timed(label: str, command: list[str]) -> subprocess.CompletedProcess[str]:
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path.cwd())
        timings.append((label, time.perf_counter() - started, done.returncode))
        (work / f"{len(timings)}.log").write_text(done.stdout + done.stderr)
        return done

    datasets = (
        "import zenml\nfrom tests.integration.conftest import make_instruction_dataset, make_preference_dataset\n"
        "zenml.save_artifact(make_instruction_dataset(24, 8), name='instruction_dataset')\n"
        "zenml.save_artifact(make_preference_dataset(16, 8), name='preference_dataset')\n"
    )
    (work / "save_datasets.py").write_text(f"import sys\nsys.path.insert(0, {str(Path.cwd())!r})\n{datasets}")
    timed("save the tests' tiny datasets as artifacts", [sys.executable, str(work / "save_datasets.py")])
    training = {
        "model": {"name": "roundtrip-assistant"},
        "parameters": {
            "stages": [
                {"kind": "sft", "max_length": 128, "optimization": {"max_steps": 2, "save_steps": 2}},
                {"kind": "dpo", "max_length": 128, "optimization": {"max_steps": 1, "save_steps": 1}},
            ],
            "evaluation": {"loss_samples": 4, "generation_samples": 1, "max_new_tokens": 8, "preference_samples": 4},
            "promotion": {"min_metrics": {}},
            "export": {"gguf": {"enabled": True, "quantizations": ["q8_0"]}},
            "tracking": {"comet": False},
        },
    }
    (work / "training.yaml").write_text(yaml.safe_dump(training))
    trained = timed("run training (SmolLM2: sft 2 steps, dpo 1, evaluate, export q8_0, promote)",
                    [*cli, "run", "training", "--config", str(work / "training.yaml")])  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = [*cli, "serve", "--model", "roundtrip-assistant", "--port", str(port), "--detach"]
    served = trained.returncode == 0 and timed("serve --detach (make serve)", serve).returncode == 0
    if served:
        overrides = [
            f"datasets.llm.base_url=http://127.0.0.1:{port}/v1", "datasets.llm.model=roundtrip-assistant",
            f"crawl.sources=[{{name: articles, type: folder, path: {corpus}}}]", "datasets.incremental=false",
        ]  # fmt: skip
        feature = [*cli, "run", "feature_engineering", "--config", "configs/feature_engineering-self.yaml"]
        for override in overrides:
            feature += ["--set", override]
        timed(f"run feature_engineering with configs/feature_engineering-self.yaml ({articles} articles)", feature)
        timed("serve --stop (make serve-stop)", [*cli, "serve", "--stop"])
    print(f"\nround trip in a fresh ZenML store ({work}); logs: {work}/<n>.log\n")
    print("| step | wall s | exit |\n|---|---:|---:|")
    for label, seconds, code in timings:
        print(f"| {label} | {seconds:.0f} | {code} |")
    print(f"| **total** | **{sum(t for _, t, _ in timings):.0f}** | |")
    report = work / "data"
    summary = sorted(str(p.relative_to(report)) for p in report.rglob("*.gguf"))
    print(f"\nGGUF files exported: {json.dumps(summary)}")


def main() -> None:
    global THREADS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--parts", default="export,throughput", help="export, throughput (needs export), roundtrip (separately)"
    )
    parser.add_argument("--articles", type=int, default=2, help="roundtrip: sample articles the feature run reads")
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=THREADS, help="llama.cpp threads, on both sides")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the converted model here between runs")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    THREADS = args.threads
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench-gguf-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"## GGUF export and serving (`make bench-gguf`)\n\n{machine()}")
    if parts & {"export", "throughput"}:
        exported = {q: root / "export" / f"smollm2-135m-{q}.gguf" for q in QUANTIZATIONS}
        if "export" in parts or not all(path.is_file() for path in exported.values()):
            exported = export_part(smollm2_folder(root), root)
        if "throughput" in parts:
            paths = exported
            throughput_part(paths, args.max_tokens, args.requests, root)
    if "roundtrip" in parts:
        roundtrip_part(root, args.articles)
    print(f"\nload at the end: `{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}`")


if __name__ == "__main__":
    main()
