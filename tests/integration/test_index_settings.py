"""The index is keyed by what produced it: a cleaning, chunking or embedding-model change re-cleans, re-chunks and
re-embeds, the old settings' points leave once the new ones are complete, and generation never selects chunks of two
settings."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from zenml.client import Client

from llm_engineering.application.generation_selection import chunks_to_generate
from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.domain.config.feature_engineering import QdrantConfig
from llm_engineering.infrastructure.bundled_models import embedder_folder
from llm_engineering.infrastructure.embedder import Embedder
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from tests.conftest import copy_articles, write_feature_config


def run(config: Path, **overrides: object) -> dict:
    document = yaml.safe_load(config.read_text())
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        document["parameters"].setdefault(section, {})[key] = value
    variant = config.with_name("variant.yaml")
    variant.write_text(yaml.safe_dump(document))
    assert run_pipeline("feature_engineering", load_for("feature_engineering", variant)).status == "completed"
    return Client().get_artifact_version("embedded_chunks").run_metadata


def points(tmp_path: Path, with_vectors: bool = False) -> list:
    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        records, _ = client.scroll("chunks", limit=10_000, with_payload=True, with_vectors=with_vectors)
    return records


def perturbed_copy(folder: Path) -> Path:
    """Another model with the same name shape and dimension: MiniLM with one weight matrix scaled."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(embedder_folder(), folder)
    weights = load_file(folder / "model.safetensors")
    name = next(k for k in weights if k.endswith("attention.self.query.weight"))
    weights[name] = weights[name] * 1.5
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def test_a_settings_change_rebuilds_the_index_and_removes_the_old_settings(tmp_path, data_dir):
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md", "lora-in-practice.md")
    config = write_feature_config(tmp_path, [{"name": "articles", "type": "folder", "path": str(corpus)}])

    first = run(config)
    assert first["chunks_embedded"] == first["points_in_collection"] > 0

    # Chunk size 128 -> 96: every chunk is new, the 128-token chunks leave, no (document, index) is stored twice.
    second = run(config, chunking__chunk_size=96)
    records = points(tmp_path)
    assert second["chunks_embedded"] == second["points_in_collection"] == len(records)
    assert second["chunks_of_other_settings_removed"] == first["points_in_collection"]
    assert max(Counter((r.payload["document_id"], r.payload["chunk_index"]) for r in records).values()) == 1
    assert {r.payload["fingerprint"] for r in records} == {records[0].payload["fingerprint"]}
    assert max(r.payload["token_count"] for r in records) <= 96

    # A copy of the model folder is the same model (identity by content, not by name): nothing to redo.
    copy = tmp_path / "minilm-copy"
    shutil.copytree(embedder_folder(), copy)
    assert run(config, chunking__chunk_size=96, embedding__model=str(copy))["chunks_embedded"] == 0

    # Other weights: every chunk is embedded again with them, and only their vectors stay.
    other = perturbed_copy(tmp_path / "minilm-other")
    third = run(config, chunking__chunk_size=96, embedding__model=str(other))
    records = points(tmp_path, with_vectors=True)
    assert third["chunks_embedded"] == third["chunks_of_other_settings_removed"] == len(records)
    expected = Embedder(str(other)).encode([r.payload["text"] for r in records])
    stored = np.array([r.vector for r in records], dtype=np.float32)
    assert np.allclose((expected * stored).sum(axis=1), 1.0, atol=1e-4)
    old = Embedder().encode([records[0].payload["text"]])[0]
    assert float(old @ stored[0]) < 0.999  # the probe saw 0.85 between the two models


def test_turning_redaction_on_leaves_no_unredacted_chunk_behind(tmp_path, data_dir):
    """Cleaning settings are part of what produced a chunk: an unchanged document is cleaned again under new ones."""
    corpus = copy_articles(tmp_path / "corpus", "pii-redaction-before-training.md", "rag-basics.md")
    config = write_feature_config(tmp_path, [{"name": "articles", "type": "folder", "path": str(corpus)}])

    unredacted = run(config, cleaning__redact_emails=False)
    assert any("jane.doe@example.com" in r.payload["text"] for r in points(tmp_path))

    redacted = run(config, cleaning__redact_emails=True)
    records = points(tmp_path)
    assert redacted["chunks_embedded"] == len(records) > 0
    assert redacted["chunks_of_other_settings_removed"] == unredacted["points_in_collection"]
    assert any("[EMAIL]" in r.payload["text"] for r in records)
    assert not [r.payload["text"] for r in records if "jane.doe@example.com" in r.payload["text"]]
    assert run(config, cleaning__redact_emails=True)["chunks_embedded"] == 0  # unchanged settings: nothing redone


def test_generation_selects_the_chunks_of_the_current_settings_only(tmp_path):
    """Mid-change (new settings complete, old points not yet swept), selection must not mix the two."""
    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        store = ChunkStore(client, "chunks")
        store.ensure_collections(2)
        for fingerprint, texts in (("old", ["a0", "a1", "a2"]), ("new", ["b0", "b1"])):
            store.upsert_chunks(
                [str(i + (10 if fingerprint == "new" else 0)).zfill(32) for i in range(len(texts))],
                [[1.0, 0.0]] * len(texts),
                [
                    {"document_id": "d", "source": "s", "location": "l", "chunk_index": i, "text": t,
                     "token_count": 1, "content_hash": t, "fingerprint": fingerprint}
                    for i, t in enumerate(texts)
                ],
            )  # fmt: skip
            store.mark_documents_completed(
                {str(99 - len(texts)).zfill(32): {"document_id": "d", "fingerprint": fingerprint}}
            )
        chunks = chunks_to_generate(store, "new", "generated_x", incremental=True)
        assert [c.text for c in chunks] == ["b0", "b1"]
        assert store.remove_other_fingerprints(["d"], "new") == 3
        assert sorted(p["text"] for p in store.scroll_payloads()) == ["b0", "b1"]
        assert [p["fingerprint"] for p in store.scroll_payloads(store.documents_collection)] == ["new"]


def test_a_model_of_another_dimension_names_the_collection_to_change(tmp_path):
    import pytest

    from llm_engineering.infrastructure.qdrant import IndexSettingsMismatch

    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        store = ChunkStore(client, "chunks")
        store.ensure_collections(384)
        with pytest.raises(IndexSettingsMismatch) as error:
            store.ensure_collections(768)
    assert str(error.value) == (
        "Qdrant collection 'chunks' holds 384-dimensional vectors, but embedding.model makes 768-dimensional ones: "
        "set qdrant.collection to a new name for this model (the old collection stays as it is), or go back to the "
        "model that built it"
    )
