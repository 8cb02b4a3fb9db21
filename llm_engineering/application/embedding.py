"""Embed chunks and load them into Qdrant, doing only the work the store does not already hold.

Incremental by content: a document whose completion marker (document id + index fingerprint) is
in the store is not cleaned, chunked or embedded again; a chunk whose content-derived id is
already a point is not re-embedded. Markers are written after a document's chunks, so a crash
and rerun finishes the document and Qdrant still holds each chunk once.

An edited document gets a new id (the id hashes its content), so once its new version is complete the
earlier versions at the same location or key are removed, and documents gone from their source are removed when
the source is crawled: retrieval never returns a passage the source no longer has.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from contextlib import closing

from llm_engineering.application.cleaning import CLEANING_RULES
from llm_engineering.domain.config.feature_engineering import ChunkingConfig, CleaningConfig, EmbeddingConfig
from llm_engineering.domain.documents import Chunk, EmbeddingSummary, RawDocument, RawDocuments, point_id
from llm_engineering.infrastructure.embedder import Embedder, resolve_model_path
from llm_engineering.infrastructure.execution import ExecutionEngine, LocalEngine
from llm_engineering.infrastructure.interruption import raise_if_stop_requested
from llm_engineering.infrastructure.model_identity import folder_identity
from llm_engineering.infrastructure.progress import Progress
from llm_engineering.infrastructure.qdrant import ChunkStore


def index_fingerprint(chunking: ChunkingConfig, embedding: EmbeddingConfig, cleaning: CleaningConfig) -> str:
    """What makes stored chunks reusable: the same cleaning (settings and rules: turning redaction on must not leave
    unredacted chunks behind), the same chunking and the same embedding model, by content (a copy of the model folder
    is the same model; other weights under the same name or alias are not)."""
    model = folder_identity(resolve_model_path(embedding.model))
    cleaned = {**cleaning.model_dump(), "rules": CLEANING_RULES}
    key = json.dumps({"chunking": chunking.model_dump(), "model": model, "cleaning": cleaned}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def completion_id(document_id: str, fingerprint: str) -> str:
    return point_id(f"{document_id}\n{fingerprint}")


def select_changed(documents: list[RawDocument], store: ChunkStore, fingerprint: str) -> tuple[list[RawDocument], int]:
    """(documents not yet fully indexed with this fingerprint, how many were unchanged)."""
    ids = {completion_id(d.document_id, fingerprint): d for d in documents}
    done = store.completed_documents(ids)
    changed = [d for key, d in ids.items() if key not in done]
    return changed, len(documents) - len(changed)


def embed_and_store(
    chunks: list[Chunk],
    store: ChunkStore,
    embedder: Embedder,
    config: EmbeddingConfig,
    fingerprint: str,
    documents_meta: dict[str, dict],
    round_size: int = 256,
    engine: ExecutionEngine | None = None,
) -> EmbeddingSummary:
    """Encode and upsert `round_size` chunks at a time: bounds the work a crash can lose.

    `engine` encodes the rounds (Ray: several at once on its workers); the upserts stay here, one round at a time
    in chunk order, so the points, their ids and payloads are the same whichever engine encoded them.
    """
    store.ensure_collections(embedder.dimension)
    stored = store.existing_chunks(c.chunk_id for c in chunks)
    todo = [c for c in chunks if c.chunk_id not in stored]
    remaining_by_document: dict[str, int] = defaultdict(int)
    for chunk in todo:
        remaining_by_document[chunk.document_id] += 1
    # Documents whose chunks were all stored before a crash only lack their marker.
    completed = {d for d in {c.document_id for c in chunks} if remaining_by_document[d] == 0}
    _mark(store, completed, fingerprint, documents_meta)

    # Not a bare tqdm on stderr: ZenML files every stderr line of a step at ERROR level.
    enabled = config.show_progress and bool(todo)
    with Progress(len(chunks), "embedding", "chunk", done=len(chunks) - len(todo), done_as="already stored",
                  enabled=enabled) as progress:  # fmt: skip
        rounds = (engine or LocalEngine()).map_batches(embedder.encode, [c.text for c in todo], round_size)
        # closing: a stop or a failed upsert ends the engine's batches (Ray: its workers) at once.
        with closing(rounds):
            for start, vectors in zip(range(0, len(todo), round_size), rounds, strict=True):
                raise_if_stop_requested(f"between embedding rounds ({start} of {len(todo)} chunks stored)")
                batch = todo[start : start + round_size]
                store.upsert_chunks([c.chunk_id for c in batch], vectors.tolist(), [_payload(c) for c in batch])
                finished = set()
                for chunk in batch:
                    remaining_by_document[chunk.document_id] -= 1
                    if remaining_by_document[chunk.document_id] == 0:
                        finished.add(chunk.document_id)
                _mark(store, finished, fingerprint, documents_meta)
                completed |= finished
                progress.update(len(batch))
    # Every run sweeps all markers, so versions a crash left behind (new one complete, old not yet removed) go too.
    markers = store.scroll_payloads(store.documents_collection)
    stale = superseded(markers)
    store.remove_documents(stale)
    # Points made under other chunking or embedding settings leave once their document is complete under these.
    current = sorted({m["document_id"] for m in markers if m.get("fingerprint") == fingerprint} - set(stale))
    other_settings = store.remove_other_fingerprints(current, fingerprint)
    return EmbeddingSummary(
        collection=store.collection,
        location="",
        model=config.model,
        dimension=embedder.dimension,
        chunks_in=len(chunks),
        chunks_embedded=len(todo),
        chunks_already_stored=len(chunks) - len(todo),
        points_in_collection=store.count(),
        documents_completed=len(completed),
        documents_superseded=len(stale),
        chunks_of_other_settings_removed=other_settings,
        embedded_chunk_ids=[c.chunk_id for c in todo],
    )


def removed_from_sources(markers: list[dict], crawled: RawDocuments) -> list[str]:
    """Ids of indexed documents whose file or page is gone from a source crawled without any failure this run
    (deleted or newly excluded files, URLs dropped from the config). A source with a failure is left alone: a
    file or page it could not read this time is not gone."""
    sources = {d.source for d in crawled.documents} | {s.source for s in crawled.skipped}
    clean = sources - {f.source for f in crawled.failures}
    present = {d.key or d.location for d in crawled.documents} | {d.location for d in crawled.documents}
    return sorted(
        {
            marker["document_id"]
            for marker in markers
            if marker.get("document_id")
            and marker.get("source") in clean
            and (marker.get("key") or marker.get("location")) not in present
        }
    )


def superseded(markers: list[dict]) -> list[str]:
    """Ids of documents with a newer fully indexed version (the latest `fetched_at` stays) at the same location
    (an edited file or page) or under the same key (a file changed by a later commit; markers written before keys
    existed have a location only)."""
    stale: set[str] = set()
    for field in ("location", "key"):
        groups: dict[str, dict[str, str]] = defaultdict(dict)
        for marker in markers:
            if marker.get(field) and marker.get("document_id"):
                versions = groups[marker[field]]
                versions[marker["document_id"]] = max(
                    versions.get(marker["document_id"], ""), marker.get("fetched_at") or ""
                )
        for versions in groups.values():
            newest = max(versions, key=lambda document_id: (versions[document_id], document_id))
            stale |= {document_id for document_id in versions if document_id != newest}
    return sorted(stale)


def _payload(chunk: Chunk) -> dict:
    return {
        "document_id": chunk.document_id,
        "source": chunk.source,
        "location": chunk.location,
        "chunk_index": chunk.chunk_index,
        "text": chunk.text,
        "token_count": chunk.token_count,
        "content_hash": chunk.content_hash,
        "author": chunk.author,
        "fingerprint": chunk.fingerprint,
    }


def _mark(store: ChunkStore, document_ids: set[str], fingerprint: str, documents_meta: dict[str, dict]) -> None:
    store.mark_documents_completed(
        {
            completion_id(d, fingerprint): {"document_id": d, "fingerprint": fingerprint, **documents_meta.get(d, {})}
            for d in document_ids
        }
    )
