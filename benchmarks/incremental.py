"""Rerun cost follows the new data: a full feature-pipeline run over N documents, then a rerun after
adding 1% more, in one run. Prints the rerun's work (documents processed, chunks embedded, LLM calls)
and wall time as fractions of the full run, with ZenML's fixed per-run overhead (a rerun with no
change) reported apart. Generation goes to the loopback OpenAI-compatible stub (tests/support), so the
LLM call count is exact and the measurement is about our pipeline, not a model.

    make bench-incremental [ARGS="--documents 400"]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK_TARGET = 0.05


def write_corpus(folder: Path, start: int, count: int) -> None:
    """Variants of the sample articles: paragraphs reordered and a unique paragraph added, so every
    document is new content (not a duplicate the pipeline could skip for free)."""
    articles = sorted((ROOT / "sample_corpus" / "articles").glob("*.md"))
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        rng = random.Random(index)
        paragraphs = articles[index % len(articles)].read_text().split("\n\n")
        head, body = paragraphs[:2], paragraphs[2:]
        rng.shuffle(body)
        unique = f"Field note {index}: " + " ".join(rng.choice(body[0].split() or ["note"]) for _ in range(40)) + "."
        (folder / f"doc-{index:05d}.md").write_text("\n\n".join([*head, unique, *body]))


def run(config: Path, overrides: list[str]) -> tuple[float, dict[str, int]]:
    from zenml.client import Client

    from llm_engineering.application.pipeline_runner import load_for, run_pipeline

    started = time.perf_counter()
    run_pipeline("feature_engineering", load_for("feature_engineering", config, overrides))
    wall = time.perf_counter() - started
    client = Client()
    metadata = {
        name: client.get_artifact_version(name).run_metadata for name in ("changed_documents", "embedded_chunks")
    }
    return wall, {
        "documents processed": int(metadata["changed_documents"]["documents"]),
        "chunks embedded": int(metadata["embedded_chunks"]["chunks_embedded"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=300)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    os.environ.update(
        LLM_ENGINEERING_DATA_DIR=str(workdir / "data"), ZENML_CONFIG_PATH=str(workdir / "zenml"),
        ZENML_ANALYTICS_OPT_IN="false", ZENML_LOGGING_VERBOSITY="ERROR",
    )  # fmt: skip
    from tests.support.dataset_responder import dataset_responder
    from tests.support.openai_server import OpenAIStubServer

    corpus = workdir / "corpus"
    write_corpus(corpus, 0, args.documents)
    added = max(1, args.documents // 100)
    config = ROOT / "configs" / "feature_engineering-openai.yaml"
    with OpenAIStubServer(responder=dataset_responder) as server:
        overrides = [
            f"crawl.sources=[{{name: corpus, type: folder, path: '{corpus}'}}]",
            f"datasets.llm.base_url={server.base_url}",
            "embedding.show_progress=false",
        ]
        rows = {}
        for label in ("full run", "no change (fixed overhead)", f"+{added} documents (1%)"):
            if label.startswith("+"):
                write_corpus(corpus, args.documents, added)
            calls_before = server.request_count
            wall, work = run(config, overrides)
            work["LLM calls"] = server.request_count - calls_before
            rows[label] = (wall, work)
    full_wall, full_work = rows["full run"]
    overhead = rows["no change (fixed overhead)"][0]
    inc_wall, inc_work = rows[f"+{added} documents (1%)"]
    print(f"## Incremental rerun: {args.documents} documents, then +{added}\n")
    print("| run | wall s | " + " | ".join(full_work) + " |\n|---|---:|" + "---:|" * len(full_work))
    for label, (wall, work) in rows.items():
        print(f"| {label} | {wall:.1f} | " + " | ".join(str(v) for v in work.values()) + " |")
    fractions = {k: inc_work[k] / full_work[k] for k in full_work if full_work[k]}
    print("\n| rerun / full | fraction |\n|---|---:|")
    for key, value in fractions.items():
        print(f"| {key} | {value:.3f} |")
    net = (inc_wall - overhead) / max(full_wall - overhead, 1e-9)
    print(f"| wall time | {inc_wall / full_wall:.3f} |")
    print(f"| wall time above the fixed overhead ({overhead:.1f} s per run) | {net:.3f} |")
    worst = max(fractions.values())
    print(
        f"\nlargest work fraction: {worst:.3f} (target <= {WORK_TARGET}) {'PASS' if worst <= WORK_TARGET else 'MISS'}"
    )
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
