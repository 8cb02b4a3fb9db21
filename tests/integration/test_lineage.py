"""Lineage from ZenML's own records, after a real feature pipeline run on a tiny corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from typer.testing import CliRunner
from zenml import Model, pipeline, step
from zenml.client import Client

from llm_engineering.application.lineage import LineageError, artifact_lineage, model_lineage
from llm_engineering.application.lineage_rendering import lineage_markdown
from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.cli import app
from llm_engineering.domain.documents import Chunks
from tests.conftest import copy_articles, write_feature_config

ARTICLES = ["rag-basics.md", "lora-in-practice.md", "sequence-packing.md"]
MODEL_NAME = "lineage-test-assistant"
FEATURE_CHAIN = ["embedded_chunks", "chunks", "cleaned_documents", "changed_documents", "raw_documents"]


@step
def count_chunks(chunks: Chunks) -> Annotated[int, "chunk_count"]:
    return len(chunks.chunks)


@pipeline(model=Model(name=MODEL_NAME))
def train_on_chunks() -> None:
    # Shaped like the training pipeline: it reads a feature-pipeline artifact version, and makes a model version.
    count_chunks(Client().get_artifact_version("chunks"))


@pytest.fixture(scope="module")
def feature_run(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("lineage")
    corpus = copy_articles(tmp_path / "corpus", *ARTICLES)
    config = write_feature_config(tmp_path, [{"name": "articles", "type": "folder", "path": str(corpus)}])
    run = run_pipeline("feature_engineering", load_for("feature_engineering", config))
    assert run.status == "completed"
    return run, corpus


def test_artifact_lineage_walks_back_to_the_source_files_and_fetch_times(feature_run):
    run, corpus = feature_run
    lineage = artifact_lineage("embedded_chunks", max_sources=2)
    nodes = lineage.walk()
    first_seen = [node.artifact for node in nodes if not node.seen_above]
    assert first_seen == FEATURE_CHAIN  # embed_and_load reads cleaned_documents twice: once via chunks
    assert all(node.run == run.name for node in nodes if not node.seen_above)
    assert [node.step for node in nodes if not node.seen_above] == [
        "embed_and_load",
        "chunk_documents",
        "clean_documents",
        "select_changed_documents",
        "crawl_sources",
    ]
    raw = nodes[first_seen.index("raw_documents")]
    assert raw.sources_total == 3 and len(raw.sources) == 2  # truncated, with the count kept
    assert {source.location for source in raw.sources} <= {str(corpus / name) for name in ARTICLES}
    assert all(source.source == "articles" and source.fetched_at.year >= 2025 for source in raw.sources)


def test_the_cli_prints_the_chain_with_sources(feature_run):
    run, corpus = feature_run
    result = CliRunner().invoke(app, ["lineage", "chunks", "--max-sources", "5"])
    assert result.exit_code == 0, result.output
    output = result.output
    positions = [output.index(f"{name}:") for name in FEATURE_CHAIN[1:]]
    assert positions == sorted(positions)  # chunks -> cleaned_documents -> changed_documents -> raw_documents
    assert f"step crawl_sources in run {run.name}" in output
    assert str(corpus / "rag-basics.md") in output and "fetched 20" in output

    missing = CliRunner().invoke(app, ["lineage", "no_such_artifact"])
    assert missing.exit_code == 2 and "no artifact version no_such_artifact in ZenML" in missing.output


def test_model_lineage_goes_from_the_model_version_through_its_dataset_to_the_sources(feature_run):
    _, corpus = feature_run
    consumer = train_on_chunks()
    lineage = model_lineage(MODEL_NAME)
    assert lineage.model == MODEL_NAME and lineage.runs == [consumer.name]
    assert any(item.startswith("chunk_count:") for item in lineage.artifacts)
    [root] = lineage.roots  # what the model's run read from outside: the chunks
    assert root.artifact == "chunks" and root.run != consumer.name
    # clean_documents reads the crawl twice: through changed_documents, and whole (for the lines a site repeats)
    first_seen = [node for node in root.walk() if not node.seen_above]
    assert [node.artifact for node in first_seen] == FEATURE_CHAIN[1:]
    assert first_seen[-1].sources_total == 3

    markdown = lineage_markdown(lineage)
    assert markdown.startswith(f"Model `{MODEL_NAME}` version `{lineage.version}`; pipeline runs: `{consumer.name}`")
    assert f"- `{root.label}` from step `chunk_documents`" in markdown
    assert f"  - {corpus}/" in markdown.replace("      ", "  ")

    cli = CliRunner().invoke(app, ["lineage", f"model:{MODEL_NAME}:{lineage.version}"])
    assert cli.exit_code == 0 and "raw_documents:" in cli.output and str(corpus) in cli.output
    with pytest.raises(LineageError, match="no model version lineage-test-assistant:99"):
        model_lineage(MODEL_NAME, "99")


def test_markdown_for_an_artifact_lists_each_step_and_source(feature_run):
    run, corpus = feature_run
    markdown = lineage_markdown(artifact_lineage("cleaned_documents"))
    lines = markdown.splitlines()
    assert (
        lines[0]
        == f"- `cleaned_documents:{lines[0].split(':')[1].split('`')[0]}` from step `clean_documents`, run `{run.name}`"
    )
    assert any(line.strip().startswith(f"- {corpus / 'rag-basics.md'} (source articles, fetched ") for line in lines)
    assert isinstance(Path(corpus), Path)
