"""A dataset version's lineage is derived from its own rows, after real feature pipeline runs on tiny corpora.

Corpus A is indexed twice (the second run changes nothing: it cleans and chunks no documents), then corpus B is
indexed and, in a second run, turned into datasets. That run, too, cleans and chunks no documents, so ZenML reuses
corpus A's `clean_documents` and `chunk_documents` from its step cache: walking the artifact chain back from B's
dataset leads into A's run, its folder and its collection. Lineage must name B's documents only, exactly those
the samples come from, with their counts.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Annotated

import pytest
from datasets import DatasetDict
from typer.testing import CliRunner
from zenml import Model, log_metadata, pipeline, step
from zenml.client import Client

from llm_engineering.application.lineage import DatasetLineage, dataset_lineage, lineage_for, model_lineage
from llm_engineering.application.lineage_rendering import lineage_markdown
from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.application.run_config import read_yaml
from llm_engineering.cli import app
from tests.conftest import PROJECT_ROOT, SAMPLE_CORPUS, copy_articles
from tests.support.dataset_responder import dataset_responder
from tests.support.openai_server import OpenAIStubServer

CONFIG = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"
CORPUS_A = ["rag-basics.md"]
CORPUS_B = ["lora-in-practice.md", "dora-weight-decomposition.md"]
ADDED_TO_B = "gradient-accumulation.md"
SHORT_NOTE = "note.md"  # crawled, then dropped by cleaning (under min_characters): no samples come from it
MODEL_NAME = "dataset-lineage-test-assistant"


def settings(tmp_path: Path, corpus: Path, qdrant: str, base_url: str, datasets: bool, incremental: bool) -> list[str]:
    stages = read_yaml(CONFIG)["parameters"]["datasets"]["curation"]["stages"]
    decontamination = next(index for index, stage in enumerate(stages) if stage["kind"] == "decontamination")
    eval_set = SAMPLE_CORPUS / "eval" / "eval_questions.jsonl"
    # The judge stage scores samples with an LLM jury: not what lineage is about, and a cost for every run.
    judges = [
        f"datasets.curation.stages.{i}.enabled=false" for i, stage in enumerate(stages) if stage["kind"] == "judge"
    ]
    return [
        *judges,
        f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]",
        f"qdrant.path={tmp_path / qdrant}",
        f"datasets.enabled={str(datasets).lower()}",
        f"datasets.incremental={str(incremental).lower()}",
        f"datasets.llm.base_url={base_url}",
        f"datasets.llm.cache_dir={tmp_path / 'llm_cache'}",
        f"datasets.curation.stages.{decontamination}.eval_sets=[{{name: eval, path: '{eval_set}'}}]",
        "embedding.show_progress=false",
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("dataset-lineage")
    corpus_a = copy_articles(tmp_path / "corpus-a", *CORPUS_A)
    corpus_b = copy_articles(tmp_path / "corpus-b", *CORPUS_B)
    runs = {}
    with OpenAIStubServer(responder=dataset_responder) as server:

        def run(name: str, corpus: Path, qdrant: str, datasets: bool, incremental: bool = False) -> None:
            overrides = settings(tmp_path, corpus, qdrant, server.base_url, datasets, incremental)
            runs[name] = run_pipeline("feature_engineering", load_for("feature_engineering", CONFIG, overrides))
            assert runs[name].status == "completed", name

        run("a_indexed", corpus_a, "qdrant-a", datasets=False)
        run("a_unchanged", corpus_a, "qdrant-a", datasets=False)  # cleans and chunks no documents
        run("b_indexed", corpus_b, "qdrant-b", datasets=False)
        # Datasets from B (a fresh lineage: the session's store may hold other tests' dataset versions).
        run("b_datasets", corpus_b, "qdrant-b", datasets=True)
        b_version = Client().get_artifact_version("instruction_dataset")
        shutil.copy(SAMPLE_CORPUS / "articles" / ADDED_TO_B, corpus_b / ADDED_TO_B)
        (corpus_b / SHORT_NOTE).write_text("# Note\n\nToo short.\n")
        run("b_grown", corpus_b, "qdrant-b", datasets=True, incremental=True)  # appends the new article's samples
    return runs, corpus_a, corpus_b, b_version


def expected_documents(version) -> dict[str, tuple[int, int]]:
    """document_id -> (samples, distinct chunks), computed from the dataset version's own rows."""
    dataset = version.load()
    rows = [row for split in dataset for row in dataset[split]]
    samples = Counter(row["document_id"] for row in rows)
    chunks = Counter(document for document, _ in {(row["document_id"], row["chunk_id"]) for row in rows})
    return {document: (samples[document], chunks[document]) for document in samples}


def run_output(run, name: str):
    [version] = [v for s in Client().get_pipeline_run(run.id).steps.values() for v in s.outputs.get(name, [])]
    return version


def test_a_dataset_made_by_a_run_that_cleaned_nothing_names_only_its_own_corpus(runs):
    runs, corpus_a, corpus_b, b_version = runs
    # The premise: B's dataset run cleaned and chunked nothing (b_indexed did), so its own clean and chunk outputs say
    # nothing of where the chunks came from. (It used to reuse A's empty clean step from ZenML's cache and name A's
    # corpus; clean_documents now also reads the whole crawl, so another corpus's step is never reused.)
    b_steps = Client().get_pipeline_run(runs["b_datasets"].id).steps
    assert b_steps["clean_documents"].outputs["cleaned_documents"][0].load().documents == []
    assert b_steps["chunk_documents"].outputs["chunks"][0].load().chunks == []

    lineage = dataset_lineage("instruction_dataset", str(b_version.version))
    assert lineage.run == runs["b_datasets"].name and lineage.step == "publish_datasets"
    [batch] = lineage.batches
    assert batch.run == runs["b_datasets"].name
    assert batch.collection == "chunks" and batch.qdrant == str(corpus_b.parent / "qdrant-b")
    locations = {document.location for document in lineage.documents().values()}
    assert locations and locations <= {str(corpus_b / name) for name in CORPUS_B}
    assert not any(str(corpus_a) in str(location) for location in locations)

    output = CliRunner().invoke(app, ["lineage", f"instruction_dataset:{b_version.version}"]).output
    assert str(corpus_b) in output and runs["b_datasets"].name in output
    assert str(corpus_a) not in output and "qdrant-a" not in output
    assert runs["a_unchanged"].name not in output and runs["a_indexed"].name not in output


def test_lineage_lists_exactly_the_documents_the_samples_come_from_with_their_counts(runs):
    runs, _, corpus_b, b_version = runs
    lineage = dataset_lineage("instruction_dataset", str(b_version.version))
    documents = lineage.documents()
    expected = expected_documents(b_version)
    assert {d: (doc.samples, doc.chunks) for d, doc in documents.items()} == expected
    assert lineage.samples == sum(samples for samples, _ in expected.values())
    # Joined with the crawl of the same run: where each document was and when that run fetched it.
    crawled = {doc.document_id: doc for doc in run_output(runs["b_datasets"], "raw_documents").load().documents}
    for document_id, document in documents.items():
        assert (document.location, document.fetched_at) == (
            crawled[document_id].location,
            crawled[document_id].fetched_at,
        )
        assert document.document_chunks is not None and document.document_chunks >= document.chunks
        assert sum(document.splits.values()) == document.samples

    # The grown version: the new article's samples were added by its own run, the rest carried over from the
    # version before; the short note was crawled by that run but gave no samples, so it is not listed.
    grown = Client().get_artifact_version("instruction_dataset")
    assert grown.id != b_version.id
    lineage = lineage_for("instruction_dataset")
    assert isinstance(lineage, DatasetLineage) and lineage.version == str(grown.version)
    added, carried = lineage.batches
    assert added.version == str(grown.version) and added.run == runs["b_grown"].name
    assert {doc.location for doc in added.documents} == {str(corpus_b / ADDED_TO_B)}
    assert carried.version == str(b_version.version) and carried.run == runs["b_datasets"].name
    assert {d: (doc.samples, doc.chunks) for d, doc in lineage.documents().items()} == expected_documents(grown)
    crawled_by_grown = {doc.location for doc in run_output(runs["b_grown"], "raw_documents").load().documents}
    assert str(corpus_b / SHORT_NOTE) in crawled_by_grown and len(crawled_by_grown) > len(lineage.documents())

    output = CliRunner().invoke(app, ["lineage", "instruction_dataset"]).output
    assert f"instruction_dataset:{grown.version}: {lineage.samples} samples" in output
    assert f"from {len(lineage.documents())} documents" in output
    assert f"produced by step publish_datasets in run {runs['b_grown'].name}" in output
    assert f"carried over from version {b_version.version}, generated in run {runs['b_datasets'].name}" in output
    assert f"documents in {corpus_b}" in output and SHORT_NOTE not in output
    new = added.documents[0]
    [line] = [line for line in output.splitlines() if ADDED_TO_B in line]
    assert f"{ADDED_TO_B} (source articles, fetched {new.fetched_at:%Y-%m-%d %H:%M:%S}" in line
    splits = ", ".join(f"{new.splits[split]} {split}" for split in ("train", "test") if split in new.splits)
    assert f"{new.samples} samples ({splits})" in line
    assert f"from {new.chunks} of its {new.document_chunks} chunks" in line
    markdown = lineage_markdown(lineage)
    assert markdown.startswith(f"- `instruction_dataset:{grown.version}`: {lineage.samples} samples")
    assert f"\n    - {ADDED_TO_B} (source articles, fetched " in markdown


@step
def score_on(instruction_dataset: DatasetDict) -> Annotated[float, "score"]:
    log_metadata({"rougeL": 0.5, "promotion": "passes the gates"}, infer_model=True)
    return 0.5


@pipeline(model=Model(name=MODEL_NAME))
def train_on_dataset() -> None:
    # Shaped like the training pipeline: it reads a dataset version and records metrics on its model version.
    score_on(Client().get_artifact_version("instruction_dataset"))


def test_model_lineage_shows_metrics_run_and_the_dataset_documents(runs):
    runs, _, corpus_b, _ = runs
    consumer = train_on_dataset()
    lineage = model_lineage(MODEL_NAME)
    assert lineage.runs == [consumer.name] and lineage.metrics == {"rougeL": 0.5}
    [root] = lineage.roots
    assert isinstance(root, DatasetLineage) and root.run == runs["b_grown"].name
    output = CliRunner().invoke(app, ["lineage", f"model:{MODEL_NAME}"]).output
    assert "metrics: rougeL 0.5" in output and "promotion: passes the gates" in output
    assert f"pipeline runs: {consumer.name}" in output and f"documents in {corpus_b}" in output
    assert ADDED_TO_B in output
