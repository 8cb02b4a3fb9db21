"""Token-aware chunking with the embedder's own tokenizer.

Text is cut into units that should not be split (sentences for prose, blank-line blocks for
code, whole fenced blocks when they fit), then units are packed greedily into chunks of at most
`chunk_size` tokens. A chunk starts over at a paragraph or definition boundary when the current
one is already mostly full, and repeats the trailing units of the previous chunk up to
`chunk_overlap` tokens. A unit longer than a chunk is cut at token offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from llm_engineering.domain.config.feature_engineering import ChunkingConfig
from llm_engineering.domain.documents import Chunk, CleanedDocument, content_hash, point_id

SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
DEFINITION = re.compile(r"^(?:async\s+def|def|class|function|func|fn|public|private|impl|struct)\b")
FENCE = re.compile(r"^(```|~~~)")


class Tokenizer(Protocol):
    def count(self, texts: list[str]) -> list[int]: ...

    def split(self, text: str, max_tokens: int) -> list[str]: ...


@dataclass
class Unit:
    text: str
    tokens: int
    starts_block: bool  # a paragraph, code block or definition begins here: a good place to cut
    joiner: str  # what goes between this unit and the previous one


def prose_units(text: str) -> list[tuple[str, bool, str]]:
    """(text, starts_block, joiner): sentences of paragraphs, fenced code blocks whole."""
    units: list[tuple[str, bool, str]] = []
    paragraph: list[str] = []
    code: list[str] | None = None

    def flush_paragraph() -> None:
        if paragraph:
            joined = " ".join(line.strip() for line in paragraph)
            for i, sentence in enumerate(s for s in SENTENCE_END.split(joined) if s.strip()):
                units.append((sentence.strip(), i == 0, "\n\n" if i == 0 else " "))
            paragraph.clear()

    for line in text.split("\n"):
        if code is not None:
            code.append(line)
            if FENCE.match(line.strip()):
                units.append(("\n".join(code), True, "\n\n"))
                code = None
            continue
        if FENCE.match(line.strip()):
            flush_paragraph()
            code = [line]
        elif not line.strip():
            flush_paragraph()
        elif line.lstrip().startswith(("#", "- ", "* ", "|")) or re.match(r"^\s*\d+[.)] ", line):
            # headings, list items and table rows stay on their own line
            flush_paragraph()
            units.append((line.strip(), line.lstrip().startswith("#"), "\n"))
        else:
            paragraph.append(line)
    flush_paragraph()
    if code:
        units.append(("\n".join(code), True, "\n\n"))
    return units


def code_units(text: str) -> list[tuple[str, bool, str]]:
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    return [(b.rstrip(), bool(DEFINITION.match(b.lstrip())), "\n\n") for b in blocks]


def to_units(text: str, is_code: bool, tokenizer: Tokenizer, max_tokens: int) -> list[Unit]:
    raw = code_units(text) if is_code else prose_units(text)
    counts = tokenizer.count([t for t, _, _ in raw]) if raw else []
    units: list[Unit] = []
    for (unit_text, starts_block, joiner), tokens in zip(raw, counts, strict=True):
        if tokens <= max_tokens:
            units.append(Unit(unit_text, tokens, starts_block, joiner))
            continue
        pieces = _split_long(unit_text, is_code, tokenizer, max_tokens)
        for i, (piece, piece_tokens) in enumerate(pieces):
            units.append(
                Unit(piece, piece_tokens, starts_block and i == 0, joiner if i == 0 else ("\n" if is_code else " "))
            )
    return units


def _split_long(text: str, is_code: bool, tokenizer: Tokenizer, max_tokens: int) -> list[tuple[str, int]]:
    """A unit over the limit: by lines first (code, fenced blocks), then at token offsets."""
    lines = text.split("\n")
    if len(lines) > 1:
        pieces: list[tuple[str, int]] = []
        current: list[str] = []
        for line, tokens in zip(lines, tokenizer.count(lines), strict=True):
            candidate = "\n".join([*current, line])
            if current and tokenizer.count([candidate])[0] > max_tokens:
                pieces.append(("\n".join(current), tokenizer.count(["\n".join(current)])[0]))
                current = []
            if tokens > max_tokens:
                pieces.extend((p, tokenizer.count([p])[0]) for p in tokenizer.split(line, max_tokens))
            else:
                current.append(line)
        if current:
            pieces.append(("\n".join(current), tokenizer.count(["\n".join(current)])[0]))
        return pieces
    parts = tokenizer.split(text, max_tokens)
    return list(zip(parts, tokenizer.count(parts), strict=True))


def pack(units: list[Unit], config: ChunkingConfig, tokenizer: Tokenizer) -> list[tuple[str, int]]:
    chunks: list[tuple[str, int]] = []
    current: list[Unit] = []
    used = 0
    fresh = 0  # units in `current` not carried over from the previous chunk

    def text_of(group: list[Unit]) -> str:
        return "".join((u.joiner if i else "") + u.text for i, u in enumerate(group))

    def emit() -> None:
        text = text_of(current)
        chunks.append((text, tokenizer.count([text])[0]))

    for unit in units:
        full = used + unit.tokens > config.chunk_size
        prefer_cut = unit.starts_block and used >= 0.75 * config.chunk_size
        if current and fresh and (full or prefer_cut):
            emit()
            carried: list[Unit] = []
            carried_tokens = 0
            for previous in reversed(current):
                if carried_tokens + previous.tokens > config.chunk_overlap:
                    break
                carried.insert(0, previous)
                carried_tokens += previous.tokens
            while carried and carried_tokens + unit.tokens > config.chunk_size:
                carried_tokens -= carried.pop(0).tokens
            current, used, fresh = carried, carried_tokens, 0
        current.append(unit)
        used += unit.tokens
        fresh += 1
    if current and fresh:
        emit()
    # Joiners can add a token or two that unit counts missed: re-cut the rare chunk that went over.
    exact: list[tuple[str, int]] = []
    for text, tokens in chunks:
        if tokens <= config.chunk_size:
            exact.append((text, tokens))
        else:
            parts = tokenizer.split(text, config.chunk_size)
            exact.extend(zip(parts, tokenizer.count(parts), strict=True))
    return exact


def chunk_document(
    document: CleanedDocument, config: ChunkingConfig, tokenizer: Tokenizer, index_fingerprint: str
) -> list[Chunk]:
    """`index_fingerprint` (chunking + embedding model identity) is part of each chunk's point id, so chunks of
    other settings are other points: a settings change re-embeds, and the old points can be swept once it is done."""
    units = to_units(document.text, document.format == "code", tokenizer, config.chunk_size)
    chunks = []
    for index, (text, tokens) in enumerate(
        t for t in pack(units, config, tokenizer) if t[1] >= config.min_chunk_tokens
    ):
        digest = content_hash(f"{document.document_id}\n{index}\n{text}")
        chunks.append(
            Chunk(
                chunk_id=point_id(f"{index_fingerprint}\n{digest}"),
                document_id=document.document_id,
                source=document.source,
                location=document.location,
                chunk_index=index,
                text=text,
                token_count=tokens,
                content_hash=digest,
                author=document.author,
                fingerprint=index_fingerprint,
            )
        )
    return chunks
