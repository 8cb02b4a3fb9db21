import gc
import hashlib
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llm_engineering.application.chunking import chunk_document
from llm_engineering.domain.config.feature_engineering import ChunkingConfig
from llm_engineering.domain.documents import CleanedDocument
from llm_engineering.infrastructure.embedder import Embedder


@pytest.fixture(scope="module")
def tokenizer():
    return Embedder().tokenizer()


def document(text: str, fmt: str = "markdown") -> CleanedDocument:
    return CleanedDocument(
        document_id="doc-1",
        source="test",
        kind="folder",
        location="/tmp/doc.md",
        fetched_at=datetime.now(UTC),
        format=fmt,
        text=text,
        content_hash="h",
    )


PROSE = "\n\n".join(
    " ".join(f"Paragraph {p} sentence {s} explains retrieval with vectors and payload filters." for s in range(6))
    for p in range(8)
)


def test_chunks_respect_the_token_limit_and_cover_the_text(tokenizer):
    config = ChunkingConfig(chunk_size=60, chunk_overlap=15)
    chunks = chunk_document(document(PROSE), config, tokenizer, "fp")
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.token_count <= 60
        assert tokenizer.count([chunk.text])[0] == chunk.token_count
    joined = " ".join(c.text for c in chunks)
    for p in range(8):
        for s in range(6):
            assert f"Paragraph {p} sentence {s} explains" in joined


def test_chunks_end_on_sentence_bounds_and_overlap(tokenizer):
    config = ChunkingConfig(chunk_size=60, chunk_overlap=15)
    chunks = chunk_document(document(PROSE), config, tokenizer, "fp")
    for chunk in chunks:
        assert chunk.text.endswith(".")  # never cut mid-sentence when sentences fit
        assert chunk.text.startswith("Paragraph")
    for previous, current in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.text.split(". ")[-1]
        overlap_tokens = tokenizer.count([last_sentence])[0]
        if overlap_tokens <= 15:
            assert current.text.startswith(last_sentence.rstrip("."))  # the overlap repeats the tail


def test_no_overlap_when_disabled(tokenizer):
    chunks = chunk_document(document(PROSE), ChunkingConfig(chunk_size=60, chunk_overlap=0), tokenizer, "fp")
    total = sum(c.text.count("Paragraph") for c in chunks)
    assert total == 8 * 6


def test_code_blocks_stay_whole_and_code_splits_on_definitions(tokenizer):
    code = "\n\n".join(
        f"def function_{i}(value):\n    '''Return value scaled by {i}.'''\n    return value * {i}" for i in range(12)
    )
    chunks = chunk_document(document(code, "code"), ChunkingConfig(chunk_size=50, chunk_overlap=0), tokenizer, "fp")
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text.startswith("def function_")
        assert chunk.text.count("def ") == chunk.text.count("return value")  # no definition cut in half


def test_an_overlong_sentence_is_cut_at_token_bounds(tokenizer):
    long_sentence = " ".join(f"word{i}" for i in range(400))
    chunks = chunk_document(document(long_sentence), ChunkingConfig(chunk_size=64, chunk_overlap=8), tokenizer, "fp")
    assert all(c.token_count <= 64 for c in chunks)
    assert "word0" in chunks[0].text and "word399" in chunks[-1].text


def test_chunk_ids_are_stable_and_content_derived(tokenizer):
    config = ChunkingConfig(chunk_size=60, chunk_overlap=15)
    first = chunk_document(document(PROSE), config, tokenizer, "fp")
    second = chunk_document(document(PROSE), config, tokenizer, "fp")
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    assert [c.chunk_index for c in first] == list(range(len(first)))


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValueError, match="chunk_overlap must be smaller than chunk_size"):
        ChunkingConfig(chunk_size=50, chunk_overlap=50)


SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "sample_corpus"


def chunks_digest(chunks) -> str:
    return hashlib.sha256(
        "".join(f"{c.chunk_id}\t{c.chunk_index}\t{c.token_count}\t{c.text}\n" for c in chunks).encode()
    ).hexdigest()


# (path, format, chunk_size, chunk_overlap, chunks, digest of ids + indexes + counts + texts), computed with the
# chunker as it was before its memory was bounded (commit e865aed): the same documents must give the same chunks.
PINNED_CHUNKS = [
    ("articles/chunking-strategies.md", "markdown", 200, 30, 4,
     "aab97fefb0f93333d0da151188935082f56c67d187cc95ca76907355e5c7ecd9"),
    ("articles/chunking-strategies.md", "markdown", 60, 15, 13,
     "27cb307c60edb2e24f5c524d58cc6d2bd0b8eeab2cfed6c2884331bea37ef7f1"),
    ("articles/pii-redaction-before-training.md", "markdown", 200, 30, 4,
     "da58dd6eac20c24ae5f17f3d5cf418db0cd21c54ef1a7bf5f931d343e1637c78"),
    ("articles/pii-redaction-before-training.md", "markdown", 60, 15, 14,
     "6c70a72b5d3f6981f8503662b6d60f2238b1ed8afd2434b903d47080371eecdc"),
    ("code/markdown_chunker.py", "code", 200, 30, 6,
     "f42ee7b549b7c10ea742086a592fc1b963083c72195baf7e743727aa5b806c2d"),
    ("code/markdown_chunker.py", "code", 60, 15, 18,
     "4914a677d8af35f33528d08e8b1697bfbd180c2fc934fb606a7bbf6f7dbd1a0c"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "fmt", "size", "overlap", "count", "digest"), PINNED_CHUNKS)
def test_sample_corpus_chunks_are_those_of_the_unbounded_chunker(tokenizer, path, fmt, size, overlap, count, digest):
    text = (SAMPLE_CORPUS / path).read_text(encoding="utf-8")
    config = ChunkingConfig(chunk_size=size, chunk_overlap=overlap)
    chunks = chunk_document(document(text, fmt), config, tokenizer, "fp")
    assert len(chunks) == count
    assert chunks_digest(chunks) == digest


def large_document(characters: int) -> str:
    """Sample articles in a seeded order, repeated until `characters` long."""
    articles = [p.read_text(encoding="utf-8") for p in sorted((SAMPLE_CORPUS / "articles").glob("*.md"))]
    rng = random.Random(0)
    parts: list[str] = []
    size = 0
    while size < characters:
        rng.shuffle(articles)
        parts.extend(articles)
        size += sum(len(a) + 2 for a in articles)
    return "\n\n".join(parts)[:characters]


def test_a_large_document_is_chunked_in_memory_bounded_by_its_chunks(tokenizer):
    text = large_document(2_000_000)
    gc.collect()
    tracemalloc.start()
    try:
        chunks = chunk_document(document(text), ChunkingConfig(), tokenizer, "fp")
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(chunks) > 2_000
    assert all(c.token_count <= 200 for c in chunks)
    # Beyond the chunks it returns, chunking needed ~0.2 bytes per character of the document; tokenizing every
    # unit in one call (the code before) needed ~21.
    assert (peak - held) / len(text) < 1.0
