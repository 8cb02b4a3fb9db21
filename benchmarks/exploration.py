"""Exploration of a 2,000-sample dataset version: what the feature pipeline's explore_datasets step adds to a run.

The samples are built from the sample corpus as backtranslation would: each passage (a paragraph of an article) is
the answer of several questions about it, so a passage's samples share its chunk, whose vector is stored in a local
Qdrant collection first (untimed: the feature pipeline has embedded every chunk before it explores). Then, timed in
this one process, as the step runs them: statistics (the embedding model's tokenizer), chunk vectors from Qdrant,
UMAP + HDBSCAN + c-TF-IDF labels, the review sample, the HTML report and the CSV.

    make bench-exploration [ARGS="--samples 2000 --repeats 2"]

The first exploration in a process pays numba's compilation of UMAP (the step's case: one exploration run per
feature run); a second one shows the warm cost. `vectors: samples` (every sample embedded with MiniLM, no chunk
vectors) is timed too. Target: <= 30 s for the first, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "sample_corpus" / "articles"
TARGET_S = 30.0
QUESTIONS = [
    "What does the author say about {}?",
    "Why does {} matter here?",
    "How would you apply {} in practice?",
    "Explain {} in one paragraph.",
    "What is a specific detail about {}?",
    "Summarize the point about {}.",
]
STOP = {"the", "and", "that", "this", "with", "from", "your", "what", "when", "which", "their", "there", "about",
        "into", "than", "then", "they", "have", "will", "each", "more", "only", "also", "does"}  # fmt: skip


def passages() -> list[tuple[str, str]]:
    """(article, paragraph) for every paragraph of 25+ words; HTML tags and markdown marks stripped."""
    found = []
    for path in sorted(ARTICLES.iterdir()):
        text = re.sub(r"<[^>]+>", "\n", path.read_text(encoding="utf-8"))
        for paragraph in re.split(r"\n\s*\n", text):
            words = re.sub(r"[#*`>|_\[\]()]", " ", paragraph).split()
            if len(words) >= 25:
                found.append((path.stem, " ".join(words)))
    return found


def build_dataset(count: int, seed: int = 0):  # noqa: ANN201 - (DatasetDict, {chunk id: passage})
    import random

    from datasets import Dataset, DatasetDict

    from llm_engineering.domain.documents import point_id

    rng = random.Random(seed)
    pool = passages()
    rows, chunks = [], {}
    for index in range(count):
        article, passage = pool[index % len(pool)]
        chunk_id = point_id(passage)
        chunks[chunk_id] = passage
        words = [w.strip(".,:;!?\"'").lower() for w in passage.split()]
        topic = " ".join(rng.sample([w for w in words if len(w) > 4 and w not in STOP] or words, 2))
        question = QUESTIONS[(index // len(pool)) % len(QUESTIONS)].format(topic)
        rows.append({"sample_id": f"s{index}", "instruction": question, "answer": passage,
                     "document_id": article, "chunk_id": chunk_id, "source": "articles",
                     "score_judge": round(rng.uniform(0.4, 1.0), 3)})  # fmt: skip
    test_documents = set(sorted({r["document_id"] for r in rows})[::7])  # about 15% of the articles
    split = {"train": [r for r in rows if r["document_id"] not in test_documents],
             "test": [r for r in rows if r["document_id"] in test_documents]}  # fmt: skip
    return DatasetDict({name: Dataset.from_list(part) for name, part in split.items()}), chunks


def store_chunks(chunks: dict[str, str], qdrant) -> None:  # noqa: ANN001 - QdrantConfig
    from llm_engineering.infrastructure.embedder import Embedder
    from llm_engineering.infrastructure.qdrant import ChunkStore, open_client

    ids = list(chunks)
    vectors = Embedder().encode([chunks[i] for i in ids])
    with open_client(qdrant) as client:
        store = ChunkStore(client, qdrant.collection)
        store.ensure_collections(vectors.shape[1])
        store.upsert_chunks(ids, vectors.tolist(), [{"document_id": "bench"} for _ in ids])


def timed(label: str, dataset, config, qdrant, output: Path) -> float:  # noqa: ANN001
    from llm_engineering.application.exploration.explore import explore_configured
    from llm_engineering.application.exploration.report_html import render_exploration, render_exploration_page
    from llm_engineering.application.exploration.review import write_review_csv
    from llm_engineering.domain.config.feature_engineering import EmbeddingConfig

    started = time.perf_counter()
    exploration = explore_configured(dataset, "instruction_dataset", "1", config, EmbeddingConfig(), qdrant)
    html = render_exploration_page([render_exploration(exploration)])
    (output / f"{label}.html").write_text(html, encoding="utf-8")
    write_review_csv(exploration.review_sample, output / f"{label}.review.csv")
    seconds = time.perf_counter() - started
    topics = exploration.topic_map
    print(f"| {label} | {exploration.statistics.samples} | {seconds:.1f} | {topics.seconds:.1f} | "
          f"{topics.vectors_from_chunks} / {topics.vectors_embedded} | {len(topics.clusters)} | {len(topics.outliers)} "
          f"| {len(exploration.review_sample)} | {len(html) // 1024} | {'; '.join(exploration.errors) or '-'} |",
          flush=True)  # fmt: skip
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2, help="explorations with chunk vectors (the first is cold)")
    parser.add_argument("--output", type=Path, default=None, help="where the reports go (default: a temp folder)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores; load before: {load}")
    from llm_engineering.domain.config.dataset_generation import ExplorationConfig
    from llm_engineering.domain.config.feature_engineering import QdrantConfig

    with tempfile.TemporaryDirectory(prefix="bench-exploration-") as temp:
        output = args.output or Path(temp)
        output.mkdir(parents=True, exist_ok=True)
        qdrant = QdrantConfig(path=Path(temp) / "qdrant", collection="chunks")
        dataset, chunks = build_dataset(args.samples)
        store_chunks(chunks, qdrant)
        print(f"{args.samples} samples from {len(chunks)} passages (chunks) of {len(list(ARTICLES.iterdir()))} "
              "articles; chunk vectors stored (untimed)\n")  # fmt: skip
        print(
            "| run | samples | total s | map s (UMAP+HDBSCAN+labels) | vectors from chunks / embedded | clusters | "
            "outliers | review rows | HTML KiB | errors |"
        )
        print("|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
        first = timed("chunks, cold (first in process)", dataset, ExplorationConfig(), qdrant, output)
        for repeat in range(1, args.repeats):
            timed(f"chunks, warm ({repeat + 1})", dataset, ExplorationConfig(), qdrant, output)
        timed("samples (every sample embedded)", dataset, ExplorationConfig(vectors="samples"), qdrant, output)
        print(f"\nload after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        print(
            f"first exploration: {first:.1f} s (target <= {TARGET_S:.0f} s): {'met' if first <= TARGET_S else 'MISSED'}"
        )
        if args.output:
            print(f"reports in {output}")


if __name__ == "__main__":
    main()
