"""Qdrant: embedded local mode under the data dir by default, a server when `qdrant.url` is set.

Two collections: `<name>` holds one point per chunk (vector + payload); `<name>_documents` holds
one marker point per document, written only after all of that document's chunks are stored, so
a crash mid-document leaves it unmarked and the rerun finishes it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from llm_engineering.domain.config.feature_engineering import QdrantConfig
from llm_engineering.settings import get_settings

RETRIEVE_BATCH = 512


class CorruptIndex(RuntimeError):
    """The local Qdrant folder is damaged; the message names the file and how to rebuild it."""


def _rebuild_hint(path: Path) -> str:
    return (
        f"move {path} aside (or delete it) and rerun the feature pipeline: every document is embedded again from its "
        "source, and generation is answered from the LLM cache"
    )


def check_local_store(path: Path) -> None:
    """Qdrant's local mode trusts meta.json: without it, or with a collection missing from it, whole collections
    would silently drop out of the index. Every collection folder must be listed and every listed one present."""
    meta = path / "meta.json"
    folders = path / "collection"
    on_disk = sorted(p.name for p in folders.iterdir() if p.is_dir()) if folders.is_dir() else []
    if not meta.exists():
        if on_disk:
            raise CorruptIndex(f"{meta} is missing, but {folders} holds collections {on_disk}: {_rebuild_hint(path)}")
        return
    try:
        listed = json.loads(meta.read_text(encoding="utf-8"))["collections"]
        if not isinstance(listed, dict):
            raise TypeError(f"'collections' is a {type(listed).__name__}, not a mapping")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptIndex(f"{meta} is not valid Qdrant metadata ({exc!r}): {_rebuild_hint(path)}") from exc
    unlisted = [name for name in on_disk if name not in listed]
    absent = [name for name in listed if name not in on_disk]
    if unlisted or absent:
        raise CorruptIndex(
            f"{meta} does not match {folders} (not listed: {unlisted}, listed but missing: {absent}): "
            f"{_rebuild_hint(path)}"
        )


def _damaged_file(path: Path) -> Path | None:
    for storage in sorted(path.glob("collection/*/storage.sqlite")):
        try:
            with sqlite3.connect(f"file:{storage}?mode=ro", uri=True) as db:
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    return storage
        except sqlite3.DatabaseError:
            return storage
    return None


class IndexSettingsMismatch(RuntimeError):
    """The collection was built with settings the current config cannot share it with."""


def local_path(config: QdrantConfig) -> Path:
    return (config.path or get_settings().path("qdrant")).resolve()


def describe(config: QdrantConfig) -> str:
    return config.url or f"local:{local_path(config)}"


@contextmanager
def open_client(config: QdrantConfig) -> Iterator[QdrantClient]:
    """Local mode takes a file lock on its folder: hold a client only as long as needed."""
    if config.url:
        api_key = get_settings().qdrant_api_key
        client = QdrantClient(url=config.url, api_key=api_key.get_secret_value() if api_key else None)
    else:
        path = local_path(config)
        path.mkdir(parents=True, exist_ok=True)
        check_local_store(path)
        try:
            client = QdrantClient(path=str(path))
        except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
            damaged = _damaged_file(path) or path
            raise CorruptIndex(f"{damaged} is damaged ({exc}): {_rebuild_hint(path)}") from exc
    try:
        yield client
    finally:
        client.close()


def chunk_vector_lookup(config: QdrantConfig) -> Callable[[list[str]], dict[str, list[float]]]:
    """chunk ids -> their stored vectors, opening the client only for the lookup (local mode locks its folder)."""

    def lookup(chunk_ids: list[str]) -> dict[str, list[float]]:
        with open_client(config) as client:
            return ChunkStore(client, config.collection).vectors_of(chunk_ids)

    return lookup


class ChunkStore:
    def __init__(self, client: QdrantClient, collection: str):
        self.client = client
        self.collection = collection
        self.documents_collection = f"{collection}_documents"

    def ensure_collections(self, dimension: int) -> None:
        if self.client.collection_exists(self.collection):
            stored = self.client.get_collection(self.collection).config.params.vectors
            size = getattr(stored, "size", None)
            if size is not None and size != dimension:
                raise IndexSettingsMismatch(
                    f"Qdrant collection {self.collection!r} holds {size}-dimensional vectors, but embedding.model "
                    f"makes {dimension}-dimensional ones: set qdrant.collection to a new name for this model "
                    f"(the old collection stays as it is), or go back to the model that built it"
                )
        else:
            self.client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            )
        if not self.client.collection_exists(self.documents_collection):
            self.client.create_collection(
                self.documents_collection,
                vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT),
            )

    def _existing(self, collection: str, ids: Iterable[str]) -> set[str]:
        if not self.client.collection_exists(collection):
            return set()
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), RETRIEVE_BATCH):
            records = self.client.retrieve(
                collection, ids=ids[start : start + RETRIEVE_BATCH], with_payload=False, with_vectors=False
            )
            found.update(str(r.id) for r in records)
        return found

    def existing_chunks(self, chunk_ids: Iterable[str]) -> set[str]:
        return self._existing(self.collection, chunk_ids)

    def completed_documents(self, document_ids: Iterable[str]) -> set[str]:
        return self._existing(self.documents_collection, document_ids)

    def upsert_chunks(self, ids: list[str], vectors: list[list[float]], payloads: list[dict[str, Any]]) -> None:
        self.client.upsert(
            self.collection,
            points=[
                models.PointStruct(id=i, vector=v, payload=p) for i, v, p in zip(ids, vectors, payloads, strict=True)
            ],
            wait=True,
        )

    def mark_documents_completed(self, documents: dict[str, dict[str, Any]]) -> None:
        if documents:
            self.client.upsert(
                self.documents_collection,
                points=[models.PointStruct(id=i, vector=[1.0], payload=p) for i, p in documents.items()],
                wait=True,
            )

    def indexed_documents(self, index_fingerprint: str) -> list[dict[str, Any]]:
        """Completion markers (payloads) of the documents fully indexed with this fingerprint."""
        return [p for p in self.scroll_payloads(self.documents_collection) if p.get("fingerprint") == index_fingerprint]

    def set_document_mark(self, document_ids: list[str], index_fingerprint: str, mark: str) -> None:
        if not document_ids:
            return
        self.client.set_payload(
            self.documents_collection,
            payload={mark: True},
            points=models.Filter(
                must=[
                    models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids)),
                    models.FieldCondition(key="fingerprint", match=models.MatchValue(value=index_fingerprint)),
                ]
            ),
            wait=True,
        )

    def remove_documents(self, document_ids: list[str]) -> None:
        """Chunks first, markers last: a crash in between leaves markers that the next sweep finds again."""
        if not document_ids:
            return
        selector = models.Filter(
            must=[models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids))]
        )
        self.client.delete(self.collection, points_selector=selector, wait=True)
        self.client.delete(self.documents_collection, points_selector=selector, wait=True)

    def remove_other_fingerprints(self, document_ids: list[str], fingerprint: str) -> int:
        """Chunks and markers of these documents made under any other fingerprint (other chunking or embedding
        settings, or from before fingerprints were stored): chunks first, markers last, as in remove_documents.
        Returns how many chunks went."""
        if not document_ids:
            return 0
        selector = models.Filter(
            must=[models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids))],
            must_not=[models.FieldCondition(key="fingerprint", match=models.MatchValue(value=fingerprint))],
        )
        removed = self.client.count(self.collection, count_filter=selector, exact=True).count
        if removed:
            self.client.delete(self.collection, points_selector=selector, wait=True)
        self.client.delete(self.documents_collection, points_selector=selector, wait=True)
        return removed

    def chunk_payloads_of(self, document_ids: list[str], fingerprint: str) -> list[dict[str, Any]]:
        """The chunks of these documents made under `fingerprint` only: never a mix of two settings."""
        if not document_ids:
            return []
        wanted = models.Filter(
            must=[
                models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids)),
                models.FieldCondition(key="fingerprint", match=models.MatchValue(value=fingerprint)),
            ]
        )
        payloads: list[dict[str, Any]] = []
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, scroll_filter=wanted, limit=1000, offset=offset, with_payload=True
            )
            payloads.extend({"id": str(r.id), **(r.payload or {})} for r in records)
            if offset is None:
                return payloads

    def vectors_of(self, chunk_ids: Iterable[str]) -> dict[str, list[float]]:
        """chunk id -> its stored vector, for the ids found (exploration maps samples with their chunk's vector)."""
        if not self.client.collection_exists(self.collection):
            return {}
        ids = list(dict.fromkeys(chunk_ids))
        vectors: dict[str, list[float]] = {}
        for start in range(0, len(ids), RETRIEVE_BATCH):
            records = self.client.retrieve(
                self.collection, ids=ids[start : start + RETRIEVE_BATCH], with_payload=False, with_vectors=True
            )
            vectors.update({str(r.id): list(r.vector) for r in records if isinstance(r.vector, list)})  # type: ignore[arg-type]
        return vectors

    def count(self) -> int:
        if not self.client.collection_exists(self.collection):
            return 0
        return self.client.count(self.collection, exact=True).count

    def scroll_payloads(self, collection: str | None = None) -> list[dict[str, Any]]:
        collection = collection or self.collection
        if not self.client.collection_exists(collection):
            return []
        payloads: list[dict[str, Any]] = []
        offset = None
        while True:
            records, offset = self.client.scroll(collection, limit=1000, offset=offset, with_payload=True)
            payloads.extend({"id": str(r.id), **(r.payload or {})} for r in records)
            if offset is None:
                return payloads
