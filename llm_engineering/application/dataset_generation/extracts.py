"""Merge consecutive chunks of a document into extracts of about `max_characters`."""

from __future__ import annotations

from collections import defaultdict

from llm_engineering.domain.config.dataset_generation import ExtractConfig
from llm_engineering.domain.documents import Chunk, point_id
from llm_engineering.domain.samples import Extract

MAX_OVERLAP_CHARS = 600


def strip_overlap(previous: str, following: str) -> str:
    """Chunks repeat the tail of their predecessor; drop it so an extract does not say things twice."""
    for size in range(min(len(previous), len(following), MAX_OVERLAP_CHARS), 10, -1):
        if previous.endswith(following[:size]):
            return following[size:].lstrip()
    return following


def build_extracts(chunks: list[Chunk], config: ExtractConfig) -> list[Extract]:
    by_document: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_document[chunk.document_id].append(chunk)
    extracts: list[Extract] = []
    for document_id, document_chunks in by_document.items():
        document_chunks.sort(key=lambda c: c.chunk_index)
        group: list[Chunk] = []
        text = ""
        for chunk in document_chunks:
            addition = strip_overlap(group[-1].text, chunk.text) if group else chunk.text
            if group and len(text) + len(addition) > config.max_characters:
                extracts.append(_extract(document_id, group, text))
                group, text, addition = [], "", chunk.text
            group.append(chunk)
            text = f"{text}\n\n{addition}" if text else addition
        if group:
            extracts.append(_extract(document_id, group, text))
    extracts = [e for e in extracts if len(e.text) >= config.min_characters]
    return extracts[: config.max_extracts] if config.max_extracts else extracts


def _extract(document_id: str, group: list[Chunk], text: str) -> Extract:
    return Extract(
        extract_id=point_id("\n".join(c.chunk_id for c in group)),
        document_id=document_id,
        chunk_ids=[c.chunk_id for c in group],
        source=group[0].source,
        location=group[0].location,
        author=group[0].author,
        text=text,
    )
