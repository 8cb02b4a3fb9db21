"""Damaged state on disk is named, with the command that rebuilds it, and never read as an empty index or cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llm_engineering.domain.config.feature_engineering import QdrantConfig
from llm_engineering.infrastructure.llm.response_cache import CorruptCache, ResponseCache
from llm_engineering.infrastructure.qdrant import ChunkStore, CorruptIndex, open_client

HINT = "move {path} aside (or delete it) and rerun the feature pipeline: every document is embedded again from its"


def build_store(path: Path) -> None:
    with open_client(QdrantConfig(path=path)) as client:
        store = ChunkStore(client, "chunks")
        store.ensure_collections(2)
        ids = [f"{i:032x}" for i in range(200)]
        store.upsert_chunks(ids, [[1.0, 0.5]] * 200, [{"document_id": "d", "text": "x" * 200}] * 200)


def digests(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in path.rglob("*") if p.is_file()
    }


def test_a_deleted_meta_json_is_an_error_not_an_empty_index(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    build_store(path)
    (path / "meta.json").unlink()
    before = digests(path)
    with pytest.raises(CorruptIndex) as error:
        open_client(QdrantConfig(path=path)).__enter__()
    assert str(error.value).startswith(
        f"{path / 'meta.json'} is missing, but {path / 'collection'} holds collections ['chunks', 'chunks_documents']: "
        + HINT.format(path=path)
    )
    assert digests(path) == before  # nothing touched: the user decides


def test_an_empty_meta_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    build_store(path)
    (path / "meta.json").write_text("")
    with pytest.raises(CorruptIndex, match=r"meta\.json is not valid Qdrant metadata \(JSONDecodeError"):
        open_client(QdrantConfig(path=path)).__enter__()


def test_a_collection_missing_from_meta_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    build_store(path)
    meta = (path / "meta.json").read_text()
    (path / "meta.json").write_text(meta.replace('"chunks_documents"', '"renamed"'))
    with pytest.raises(CorruptIndex, match=r"not listed: \['chunks_documents'\], listed but missing: \['renamed'\]"):
        open_client(QdrantConfig(path=path)).__enter__()


def test_a_truncated_storage_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    build_store(path)
    storage = path / "collection" / "chunks" / "storage.sqlite"
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    with pytest.raises(CorruptIndex) as error:
        open_client(QdrantConfig(path=path)).__enter__()
    assert str(error.value).startswith(f"{storage} is damaged (")
    assert HINT.format(path=path) in str(error.value)


def test_a_truncated_response_cache_is_named(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put_many({f"k{i}": {"text": "answer " * 50} for i in range(300)})
    cache.close()
    for leftover in tmp_path.glob("responses.sqlite-*"):  # the WAL is checkpointed into the file on close
        leftover.unlink()
    database = tmp_path / "responses.sqlite"
    database.write_bytes(database.read_bytes()[: database.stat().st_size // 2])
    with pytest.raises(CorruptCache) as error:
        ResponseCache(tmp_path)
    assert str(error.value).startswith(f"the LLM response cache {database} is damaged (")
    assert str(error.value).endswith(
        f"delete it ({database}*) or move it aside; the next run asks the LLM again for every answer it held"
    )
