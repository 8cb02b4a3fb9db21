from datetime import UTC, datetime

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
