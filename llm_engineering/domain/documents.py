"""Documents as they move through the feature pipeline: raw -> cleaned -> chunks -> embedded."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

SourceKind = Literal["folder", "url", "git"]

# Fixed namespace so UUID5 point ids are stable across machines and runs.
POINT_NAMESPACE = uuid.UUID("6f1b2a52-8d1e-4c55-9a0e-6f3f3c1d2b7a")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def point_id(key: str) -> str:
    """Qdrant point id derived from content, so an upsert after a crash never duplicates."""
    return str(uuid.uuid5(POINT_NAMESPACE, key))


class RawDocument(BaseModel):
    source: str = Field(description="name of the configured source")
    kind: SourceKind
    location: str = Field(description="URL, file path or repo path")
    title: str | None = None
    author: str | None = None
    fetched_at: datetime
    format: Literal["markdown", "text", "html", "pdf", "code"]
    content: str
    content_hash: str
    etag: str | None = Field(None, description="URL sources: for a conditional re-fetch")
    last_modified: str | None = None

    key: str | None = Field(
        None,
        description="identity that does not depend on where the corpus sits or which commit it came from: "
        "'<source>:<path>' for folder and git files; unset (the location) for URLs",
    )

    @property
    def document_id(self) -> str:
        # Portable ids make the by-document train/test split the same on every clone and machine.
        return point_id(f"{self.key or self.location}\n{self.content_hash}")


class CrawlFailure(BaseModel):
    source: str
    location: str
    reason: str
    attempts: int = 1


class SkippedItem(BaseModel):
    """Not a failure: something we chose not to ingest (binary, vendored, unchanged)."""

    source: str
    location: str
    reason: str


class RawDocuments(BaseModel):
    documents: list[RawDocument] = []
    failures: list[CrawlFailure] = []
    skipped: list[SkippedItem] = []
    not_modified: int = Field(0, description="URLs answered 304: the previous crawl's document was reused")


class CleanedDocument(BaseModel):
    document_id: str
    source: str
    kind: SourceKind
    location: str
    key: str | None = Field(None, description="the raw document's portable identity (see RawDocument.key)")
    title: str | None = None
    author: str | None = None
    fetched_at: datetime
    format: str
    text: str
    content_hash: str = Field(description="hash of the raw content this was cleaned from")
    redactions: dict[str, int] = {}


class RepeatedLine(BaseModel):
    """A line dropped from every document of a site, shown in the cleaning step's summary."""

    site: str = Field(description="the source, and the host for URL sources")
    text: str = Field(description="the line (cut at 160 characters)")
    documents: int = Field(description="documents of the site it appears in")
    site_documents: int = Field(description="documents of the site")


class CleanedDocuments(BaseModel):
    documents: list[CleanedDocument] = []
    dropped: list[SkippedItem] = []
    repeated_lines: list[RepeatedLine] = Field(
        [], description="lines dropped as site chrome because their site repeats them on most of its pages"
    )


class Chunk(BaseModel):
    chunk_id: str
    document_id: str
    source: str
    location: str
    chunk_index: int
    text: str
    token_count: int
    content_hash: str
    author: str | None = None
    fingerprint: str = Field("", description="the index fingerprint (chunking + embedding model) it was made under")


class Chunks(BaseModel):
    chunks: list[Chunk] = []


class EmbeddingSummary(BaseModel):
    """What the Qdrant load did; the vectors themselves live in Qdrant, not in the artifact store."""

    collection: str
    location: str
    model: str
    dimension: int
    chunks_in: int
    chunks_embedded: int
    chunks_already_stored: int
    points_in_collection: int
    documents_completed: int
    documents_superseded: int = Field(0, description="earlier versions of edited documents removed from Qdrant")
    chunks_of_other_settings_removed: int = Field(
        0, description="points made under earlier chunking or embedding settings, removed once these were complete"
    )
    embedded_chunk_ids: list[str] = []
