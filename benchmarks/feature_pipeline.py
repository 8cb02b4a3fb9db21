"""Feature pipeline on the sample corpus: wall time of `make run-feature-pipeline`, docs/s per stage, and
our embed-and-load throughput against a bare `SentenceTransformer.encode` of the same chunks, in one run.

    make bench-feature [ARGS="--no-datasets"]

Runs in a fresh data dir and ZenML store (a temp folder), so it measures a first run, not a cached one;
the converted SmolLM2 folder is reused from ./data/models when present (conversion is a one-off ~20 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "feature_engineering.yaml"
EMBED_TARGET = 0.9


def run_pipeline(workdir: Path, extra: list[str]) -> float:
    cli = Path(sys.executable).with_name("llm-engineering")
    started = time.perf_counter()
    subprocess.run(
        [str(cli), "run", "feature_engineering", "--config", str(CONFIG), *extra], cwd=ROOT, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def stage_rates() -> list[tuple[str, float, int, str]]:
    from zenml.client import Client

    run = Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    rows = []
    for name, step_run in run.steps.items():
        seconds = (step_run.end_time - step_run.start_time).total_seconds()
        metadata = step_run.run_metadata or {}
        count, unit = next(
            ((metadata[k], k) for k in ("documents", "chunks_embedded", "samples", "chunks") if k in metadata),
            (0, ""),
        )
        rows.append((name, seconds, int(count) if isinstance(count, int) else 0, unit))
    return rows


def embedding_comparison(qdrant_dir: Path) -> tuple[float, float, int]:
    """(ours chunks/s, bare encode chunks/s, chunks), same chunks, same model, same batch size."""
    from zenml.client import Client

    from llm_engineering.application.embedding import embed_and_store
    from llm_engineering.domain.config.feature_engineering import EmbeddingConfig, QdrantConfig
    from llm_engineering.infrastructure.embedder import Embedder
    from llm_engineering.infrastructure.qdrant import ChunkStore, open_client

    chunks = Client().list_artifact_versions(artifact="chunks", sort_by="asc:created", size=1).items[0].load().chunks
    config = EmbeddingConfig(show_progress=False)
    embedder = Embedder(config.model, config.device, config.batch_size)
    texts = [c.text for c in chunks]
    embedder.encode(texts[:8])  # load and warm up once, for both sides
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=config.batch_size, convert_to_numpy=True, normalize_embeddings=True)
    bare = len(texts) / (time.perf_counter() - started)
    with open_client(QdrantConfig(path=qdrant_dir)) as client:
        started = time.perf_counter()
        embed_and_store(chunks, ChunkStore(client, "bench"), embedder, config, "bench", {})
        ours = len(texts) / (time.perf_counter() - started)
    return ours, bare, len(texts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-datasets", action="store_true", help="skip dataset generation (crawl -> Qdrant only)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-feature-"))
    os.environ.update(
        LLM_ENGINEERING_DATA_DIR=str(workdir / "data"), ZENML_CONFIG_PATH=str(workdir / "zenml"),
        ZENML_ANALYTICS_OPT_IN="false",
    )  # fmt: skip
    if (ROOT / "data" / "models").is_dir():
        shutil.copytree(ROOT / "data" / "models", workdir / "data" / "models")
    extra = ["--set", "datasets.enabled=false"] if args.no_datasets else []
    wall = run_pipeline(workdir, extra)
    print(f"## Feature pipeline on sample_corpus ({'no datasets' if args.no_datasets else 'with datasets'})\n")
    print(f"wall time of the run (CLI, fresh store): {wall:.1f} s (target < 300 s)\n")
    print("| step | seconds | items | items/s |\n|---|---:|---:|---:|")
    for name, seconds, count, unit in stage_rates():
        rate = f"{count / seconds:.1f}" if seconds > 0 and count else ""
        print(f"| {name} | {seconds:.2f} | {count} {unit} | {rate} |")
    ours, bare, n = embedding_comparison(workdir / "qdrant-bench")
    ratio = ours / bare
    print(f"\n| embedding {n} chunks | chunks/s |\n|---|---:|")
    print(f"| bare SentenceTransformer.encode | {bare:.1f} |\n| ours: embed + upsert into Qdrant | {ours:.1f} |")
    print(f"\nratio ours/bare: {ratio:.2f} (target >= {EMBED_TARGET}) {'PASS' if ratio >= EMBED_TARGET else 'MISS'}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
