"""Token-aware chunking with the embedder's own tokenizer.

Text is cut into units that should not be split (sentences for prose, blank-line blocks for
code, whole fenced blocks when they fit), then units are packed greedily into chunks of at most
`chunk_size` tokens. A chunk starts over at a paragraph or definition boundary when the current
one is already mostly full, and repeats the trailing units of the previous chunk up to
`chunk_overlap` tokens. A unit longer than a chunk is cut at token offsets.

Memory follows the size of the chunks, not the number of units: units are made lazily, counted in
batches of at most `COUNT_BATCH_CHARACTERS` characters (a fast tokenizer keeps every encoding of a call,
with offsets and token strings, until it returns) and packed as they come; only finished chunks are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from llm_engineering.domain.config.feature_engineering import ChunkingConfig
from llm_engineering.domain.documents import Chunk, CleanedDocument, content_hash, point_id

SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
DEFINITION = re.compile(r"^(?:async\s+def|def|class|function|func|fn|public|private|impl|struct)\b")
FENCE = re.compile(r"^(```|~~~)")
NUMBERED_ITEM = re.compile(r"^\s*\d+[.)] ")
BLANK_LINES = re.compile(r"\n\s*\n")
# One tokenizer call gets at most this many characters (a longer text goes alone) and texts: big enough that
# the per-call overhead does not show, small enough that the call's encodings stay a few megabytes.
COUNT_BATCH_CHARACTERS = 32_768
COUNT_BATCH_TEXTS = 256
# A unit cut by lines: how many "piece + next line" candidates are counted in one call.
CANDIDATE_BATCH = 32

RawUnit = tuple[str, bool, str]
Item = TypeVar("Item")


class Tokenizer(Protocol):
    def count(self, texts: list[str]) -> list[int]: ...

    def split(self, text: str, max_tokens: int) -> list[str]: ...


@dataclass(slots=True)
class Unit:
    text: str
    tokens: int
    starts_block: bool  # a paragraph, code block or definition begins here: a good place to cut
    joiner: str  # what goes between this unit and the previous one


def lines_of(text: str) -> Iterator[str]:
    """`text.split("\\n")`, one line at a time."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _between(pattern: re.Pattern[str], text: str) -> Iterator[str]:
    """`pattern.split(text)` (a pattern without groups), one piece at a time."""
    start = 0
    for match in pattern.finditer(text):
        yield text[start : match.start()]
        start = match.end()
    yield text[start:]


def iter_prose_units(text: str) -> Iterator[RawUnit]:
    """(text, starts_block, joiner): sentences of paragraphs, fenced code blocks whole."""
    paragraph: list[str] = []
    code: list[str] | None = None

    def flush_paragraph() -> Iterator[RawUnit]:
        if paragraph:
            joined = " ".join(line.strip() for line in paragraph)
            paragraph.clear()
            for i, sentence in enumerate(s for s in _between(SENTENCE_END, joined) if s.strip()):
                yield sentence.strip(), i == 0, "\n\n" if i == 0 else " "

    for line in lines_of(text):
        if code is not None:
            code.append(line)
            if FENCE.match(line.strip()):
                yield "\n".join(code), True, "\n\n"
                code = None
            continue
        if FENCE.match(line.strip()):
            yield from flush_paragraph()
            code = [line]
        elif not line.strip():
            yield from flush_paragraph()
        elif line.lstrip().startswith(("#", "- ", "* ", "|")) or NUMBERED_ITEM.match(line):
            # headings, list items and table rows stay on their own line
            yield from flush_paragraph()
            yield line.strip(), line.lstrip().startswith("#"), "\n"
        else:
            paragraph.append(line)
    yield from flush_paragraph()
    if code:
        yield "\n".join(code), True, "\n\n"


def prose_units(text: str) -> list[RawUnit]:
    return list(iter_prose_units(text))


def iter_code_units(text: str) -> Iterator[RawUnit]:
    for block in _between(BLANK_LINES, text):
        if block.strip():
            yield block.rstrip(), bool(DEFINITION.match(block.lstrip())), "\n\n"


def code_units(text: str) -> list[RawUnit]:
    return list(iter_code_units(text))


def _batched(items: Iterable[Item], text_of: Callable[[Item], str]) -> Iterator[list[Item]]:
    """Consecutive items, grouped for one tokenizer call each (see COUNT_BATCH_CHARACTERS)."""
    batch: list[Item] = []
    characters = 0
    for item in items:
        size = len(text_of(item))
        if batch and (characters + size > COUNT_BATCH_CHARACTERS or len(batch) >= COUNT_BATCH_TEXTS):
            yield batch
            batch, characters = [], 0
        batch.append(item)
        characters += size
    if batch:
        yield batch


def _counted(texts: list[str], tokenizer: Tokenizer) -> list[tuple[str, int]]:
    counted: list[tuple[str, int]] = []
    for batch in _batched(texts, str):
        counted.extend(zip(batch, tokenizer.count(batch), strict=True))
    return counted


def iter_units(text: str, is_code: bool, tokenizer: Tokenizer, max_tokens: int) -> Iterator[Unit]:
    raw = iter_code_units(text) if is_code else iter_prose_units(text)
    follow_on = "\n" if is_code else " "  # joiner of the second and later pieces of a cut unit
    for batch in _batched(raw, lambda unit: unit[0]):
        counts = tokenizer.count([unit_text for unit_text, _, _ in batch])
        for (unit_text, starts_block, joiner), tokens in zip(batch, counts, strict=True):
            if tokens <= max_tokens:
                yield Unit(unit_text, tokens, starts_block, joiner)
                continue
            for i, (piece, piece_tokens) in enumerate(_split_long(unit_text, is_code, tokenizer, max_tokens)):
                yield Unit(piece, piece_tokens, starts_block and i == 0, joiner if i == 0 else follow_on)


def to_units(text: str, is_code: bool, tokenizer: Tokenizer, max_tokens: int) -> list[Unit]:
    return list(iter_units(text, is_code, tokenizer, max_tokens))


def _split_long(text: str, is_code: bool, tokenizer: Tokenizer, max_tokens: int) -> list[tuple[str, int]]:
    """A unit over the limit: by lines first (code, fenced blocks), then at token offsets.

    A line joins the current piece when the piece with it, counted as one text, still fits. The piece never
    exceeds `max_tokens`, so candidates stay short; those of the next few lines are counted in one call on the
    guess that each line joins (line counts say when it will not), and the first that does not ends the guess."""
    lines = text.split("\n")
    if len(lines) == 1:
        return _counted(tokenizer.split(text, max_tokens), tokenizer)
    line_tokens = [tokens for _, tokens in _counted(lines, tokenizer)]
    pieces: list[tuple[str, int]] = []
    current: list[str] = []
    current_text, current_tokens = "", 0  # "\n".join(current) and its count
    i = 0

    def start_piece(line: str, tokens: int) -> None:
        nonlocal current, current_text, current_tokens
        if tokens > max_tokens:
            pieces.extend(_counted(tokenizer.split(line, max_tokens), tokenizer))
            current, current_text, current_tokens = [], "", 0
        else:
            current, current_text, current_tokens = [line], line, tokens

    while i < len(lines):
        if not current:
            start_piece(lines[i], line_tokens[i])
            i += 1
            continue
        candidates: list[str] = []
        estimate = current_tokens
        for j in range(i, min(len(lines), i + CANDIDATE_BATCH)):
            candidates.append(f"{candidates[-1] if candidates else current_text}\n{lines[j]}")
            estimate += line_tokens[j]
            if line_tokens[j] > max_tokens or estimate > max_tokens:
                break
        for candidate, candidate_tokens in zip(candidates, tokenizer.count(candidates), strict=True):
            line, tokens = lines[i], line_tokens[i]
            i += 1
            if candidate_tokens > max_tokens:
                pieces.append((current_text, current_tokens))
                start_piece(line, tokens)
                break
            if tokens > max_tokens:  # the piece stays as it is; only a tokenizer that is not additive gets here
                pieces.extend(_counted(tokenizer.split(line, max_tokens), tokenizer))
                break
            current.append(line)
            current_text, current_tokens = candidate, candidate_tokens
    if current:
        pieces.append((current_text, current_tokens))
    return pieces


def _packed_texts(units: Iterable[Unit], config: ChunkingConfig) -> Iterator[str]:
    current: list[Unit] = []
    used = 0
    fresh = 0  # units in `current` not carried over from the previous chunk

    def text_of(group: list[Unit]) -> str:
        return "".join((u.joiner if i else "") + u.text for i, u in enumerate(group))

    for unit in units:
        full = used + unit.tokens > config.chunk_size
        prefer_cut = unit.starts_block and used >= 0.75 * config.chunk_size
        if current and fresh and (full or prefer_cut):
            yield text_of(current)
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
        yield text_of(current)


def iter_packed(units: Iterable[Unit], config: ChunkingConfig, tokenizer: Tokenizer) -> Iterator[tuple[str, int]]:
    """(chunk text, exact token count), as `pack` returns them, one at a time."""
    for batch in _batched(_packed_texts(units, config), str):
        for text, tokens in zip(batch, tokenizer.count(batch), strict=True):
            if tokens <= config.chunk_size:
                yield text, tokens
            else:  # joiners can add a token or two that unit counts missed: re-cut the rare chunk that went over
                yield from _counted(tokenizer.split(text, config.chunk_size), tokenizer)


def pack(units: list[Unit], config: ChunkingConfig, tokenizer: Tokenizer) -> list[tuple[str, int]]:
    return list(iter_packed(units, config, tokenizer))


def chunk_document(
    document: CleanedDocument, config: ChunkingConfig, tokenizer: Tokenizer, index_fingerprint: str
) -> list[Chunk]:
    """`index_fingerprint` (chunking + embedding model identity) is part of each chunk's point id, so chunks of
    other settings are other points: a settings change re-embeds, and the old points can be swept once it is done."""
    units = iter_units(document.text, document.format == "code", tokenizer, config.chunk_size)
    chunks = []
    for index, (text, tokens) in enumerate(
        t for t in iter_packed(units, config, tokenizer) if t[1] >= config.min_chunk_tokens
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
