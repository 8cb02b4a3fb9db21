"""MinHash-LSH near-duplicate pairs over word shingles, built for throughput.

Implementation (chosen by `make bench-dedup`, see benchmarks/dedup.py): the hot loops never touch a
Python object per word or per shingle.

1. Tokenise with Arrow (whitespace split + dictionary encoding in C++), normalise and hash each
   *distinct* token once in Python (lowercase, punctuation stripped: the same rule as
   `sample_text.normalised_words`), then gather the hashes for all tokens.
2. Shingle hashes: vectorised polynomial combination of k consecutive word hashes over the flat
   token array; shingles that would cross a document boundary are overwritten with one of the
   document's own shingles (a repeat leaves a minimum unchanged), so no gather is needed.
3. Signatures with rensa's `RMinHash` (Rust) from the flat buffer in one call.
4. rensa's one-shot LSH flags every row that shares a band with another row; only those rows'
   signatures are copied out to NumPy (copying all of them costs more than everything else).
5. Banding again in NumPy on the flagged rows to get candidate pairs, then verification by the
   signature Jaccard estimate >= threshold: LSH alone reports every band collision, verification
   removes the low-similarity ones (precision).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import rensa

from llm_engineering.application.sample_text import normalise_token
from llm_engineering.domain.config.dataset_quality import MinHashConfig
from llm_engineering.infrastructure.execution import ExecutionEngine

_SHINGLE_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_TEXTS_PER_BLOCK = 16384
_CHUNK = 65536  # shingles per NumPy pass: 512 KiB arrays stay in cache
_EMPTY = 0  # hash of a token that normalises to nothing (only punctuation); blake2b gives 0 with p = 2**-64
_MAX_ALL_PAIRS_GROUP = 32  # bigger LSH buckets (many copies of one text) are paired as star + chain, not n²


@dataclass(frozen=True)
class SimilarPairs:
    """Index pairs (left < right) into the input texts, with their estimated Jaccard similarity."""

    left: np.ndarray
    right: np.ndarray
    similarity: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


def find_similar_pairs(texts: list[str], config: MinHashConfig, engine: ExecutionEngine | None = None) -> SimilarPairs:
    """All pairs of texts whose estimated word-shingle Jaccard similarity is >= config.threshold.

    With a distributed `engine` the signatures (blocks of texts) and the banding (groups of bands) are computed on
    its workers (`_find_similar_pairs_on`); the pairs are the same, in the same order.
    """
    if engine is not None and engine.name != "local":
        return _find_similar_pairs_on(engine, texts, config)
    shingles, offsets = shingle_hashes(texts, config.shingle_size)
    lengths = np.diff(offsets)
    rows = np.flatnonzero(lengths > 0)  # texts without words have no signature and match nothing
    if len(rows) < 2:
        return _no_pairs()
    offsets, lengths = offsets[rows], lengths[rows]
    compact = _gather_rows(shingles, offsets, lengths)
    compact_offsets = _offsets(lengths)
    digests = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        compact, compact_offsets, config.num_perm, config.seed
    )
    bands = config.resolved_bands
    index = rensa.RMinHashLSH(config.threshold, config.num_perm, bands)
    flagged = np.flatnonzero(np.asarray(index.query_duplicate_flags_matrix_one_shot(digests), dtype=bool))
    if len(flagged) < 2:
        return _no_pairs()
    flagged_lengths = lengths[flagged]
    flagged_digests = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        _gather_rows(compact, compact_offsets[:-1][flagged], flagged_lengths),
        _offsets(flagged_lengths),
        config.num_perm,
        config.seed,
    )
    signatures = np.asarray(flagged_digests.to_rows(), dtype=np.uint32)
    left, right = candidate_pairs(signatures, bands, config.num_perm // bands)
    similarity = estimated_jaccard(signatures, left, right)
    keep = similarity >= config.threshold
    original = rows[flagged]
    return SimilarPairs(original[left[keep]], original[right[keep]], similarity[keep])


def _find_similar_pairs_on(engine: ExecutionEngine, texts: list[str], config: MinHashConfig) -> SimilarPairs:
    """The signatures of every text, then every band's buckets, then the same verification. Without rensa's
    one-shot pre-filter (it needs all signatures in one process): a row it would drop shares no band with another,
    so it makes no candidate, and the pairs sorted by (left, right) come out the same."""
    block = min(max(1024, -(-len(texts) // (2 * engine.workers))), _TEXTS_PER_BLOCK)
    parts = list(engine.map_batches(partial(signature_rows, config=config), texts, block))
    if not parts:
        return _no_pairs()
    rows = np.flatnonzero(np.concatenate([has_words for has_words, _ in parts]))
    if len(rows) < 2:
        return _no_pairs()
    signatures = np.concatenate([part for _, part in parts])
    bands, per_band = config.resolved_bands, config.num_perm // config.resolved_bands
    groups = -(-bands // engine.workers)
    band_codes = partial(_band_pair_codes, signatures=signatures, rows=per_band)
    codes = [code for part in engine.map_batches(band_codes, list(range(bands)), groups) for code in part]
    left, right = _unique_pairs(codes, len(signatures))
    similarity = estimated_jaccard(signatures, left, right)
    keep = similarity >= config.threshold
    return SimilarPairs(rows[left[keep]], rows[right[keep]], similarity[keep])


def signature_rows(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """(which texts have words, the uint32 MinHash signatures of those): the values `find_similar_pairs` bands,
    each row depending on its text alone."""
    shingles, offsets = shingle_hashes(texts, config.shingle_size)
    lengths = np.diff(offsets)
    has_words = lengths > 0
    if not has_words.any():
        return has_words, np.zeros((0, config.num_perm), dtype=np.uint32)
    lengths = lengths[has_words]
    compact = _gather_rows(shingles, offsets[:-1][has_words], lengths)
    digests = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        compact, _offsets(lengths), config.num_perm, config.seed
    )
    return has_words, np.asarray(digests.to_rows(), dtype=np.uint32)


def shingle_hashes(texts: list[str], shingle_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 shingle hashes and per-text offsets (row i = hashes[offsets[i]:offsets[i+1]]).

    A text with fewer words than `shingle_size` gets one shingle of all its words. Texts are processed
    in blocks so that Arrow's and NumPy's temporaries stay cache-sized.
    """
    token_hashes: dict[str, int] = {}
    blocks, lengths = [], []
    for start in range(0, len(texts), _TEXTS_PER_BLOCK):
        block, offsets = _block_shingle_hashes(texts[start : start + _TEXTS_PER_BLOCK], shingle_size, token_hashes)
        blocks.append(block)
        lengths.append(np.diff(offsets))
    if not blocks:
        return np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.uint64)
    return np.concatenate(blocks), _offsets(np.concatenate(lengths))


def _block_shingle_hashes(
    texts: list[str], shingle_size: int, token_hashes: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    padded, offsets = _word_hashes(texts, token_hashes, padding=shingle_size - 1)
    count = len(padded) - (shingle_size - 1)
    combined = np.empty(count, dtype=np.uint64)
    scratch = np.empty(_CHUNK, dtype=np.uint64)
    for start in range(0, count, _CHUNK):  # cache-sized chunks: several times faster than whole-array passes
        stop = min(start + _CHUNK, count)
        chunk = combined[start:stop]
        chunk[:] = padded[start:stop]
        for j in range(1, shingle_size):
            chunk *= _SHINGLE_MULTIPLIER
            chunk += padded[start + j : stop + j]
        _mix64(chunk, scratch[: stop - start])
    lengths = np.diff(offsets)
    starts = offsets[:-1]
    full = lengths >= shingle_size
    for j in range(1, shingle_size):  # tails that ran into the next text repeat the text's first shingle
        combined[starts[full] + lengths[full] - j] = combined[starts[full]]
    short = np.flatnonzero((lengths > 0) & ~full)
    if len(short):
        accumulated = np.zeros(len(short), dtype=np.uint64)
        for j in range(shingle_size - 1):
            inside = j < lengths[short]
            accumulated = np.where(inside, accumulated * _SHINGLE_MULTIPLIER + padded[starts[short] + j], accumulated)
        combined[_gather_indices(starts[short], lengths[short])] = np.repeat(_mix64(accumulated), lengths[short])
    return combined, offsets


def candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (left < right) that agree on every value of at least one band, deduplicated."""
    return _unique_pairs(_band_pair_codes(list(range(bands)), signatures, rows), len(signatures))


def _band_pair_codes(bands: list[int], signatures: np.ndarray, rows: int) -> list[np.ndarray]:
    """For each band, its bucket-mates as codes left * count + right (one array per bucket size)."""
    codes = []
    count = len(signatures)
    for band in bands:
        block = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64)
        keys = block[:, 0].copy()
        for column in range(1, rows):
            keys *= _SHINGLE_MULTIPLIER
            keys += block[:, column]
        keys = _mix64(keys)
        order = np.argsort(keys, kind="stable")  # stable: members of a bucket stay in input order
        sorted_keys = keys[order]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        group_starts = np.concatenate([[0], boundaries])
        group_sizes = np.diff(np.concatenate([group_starts, [count]]))
        for size in np.unique(group_sizes[group_sizes > 1]):
            members = order[group_starts[group_sizes == size][:, None] + np.arange(size)]
            if size <= _MAX_ALL_PAIRS_GROUP:
                first, second = np.triu_indices(size, 1)
                left, right = members[:, first].ravel(), members[:, second].ravel()
            else:
                left = np.concatenate([np.repeat(members[:, :1], size - 1, axis=1), members[:, :-1]], axis=1).ravel()
                right = np.concatenate([members[:, 1:], members[:, 1:]], axis=1).ravel()
            codes.append(left.astype(np.int64) * count + right)
    return codes


def _unique_pairs(codes: list[np.ndarray], count: int) -> tuple[np.ndarray, np.ndarray]:
    if not codes:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    unique = np.unique(np.concatenate(codes))
    return unique // count, unique % count


def estimated_jaccard(signatures: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Share of equal signature values: an unbiased estimate of the shingle-set Jaccard similarity."""
    result = np.empty(len(left), dtype=np.float64)
    block = 65536  # bounds the temporary (block x num_perm) comparison matrix
    for start in range(0, len(left), block):
        stop = start + block
        result[start:stop] = (signatures[left[start:stop]] == signatures[right[start:stop]]).mean(axis=1)
    return result


def _word_hashes(texts: list[str], token_hashes: dict[str, int], padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 hashes of the normalised words of all texts (then `padding` zeros), and per-text offsets.

    `token_hashes` caches raw token -> hash across blocks, so each distinct token is normalised once.
    """
    encoded = [text.encode("utf-8", "replace") for text in texts]
    byte_offsets = _offsets(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
    data = b"".join(encoded)
    array = pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(byte_offsets), pa.py_buffer(data))
    # Both split on runs of whitespace; the ASCII kernel is faster and exact when there is no other byte.
    tokens = pc.ascii_split_whitespace(array) if data.isascii() else pc.utf8_split_whitespace(array)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    encoded_tokens = pc.dictionary_encode(tokens.values)
    distinct = encoded_tokens.dictionary.to_pylist()
    for token in distinct:
        if token not in token_hashes:
            normalised = normalise_token(token)
            token_hashes[token] = _stable_hash(normalised) if normalised else _EMPTY
    distinct_hashes = np.fromiter(map(token_hashes.__getitem__, distinct), dtype=np.uint64, count=len(distinct))
    indices = encoded_tokens.indices.to_numpy()
    empty = distinct_hashes == _EMPTY
    if empty.any():  # tokens that were only punctuation are not words
        keep = ~empty[indices]
        indices = indices[keep]
        offsets = np.concatenate([[0], np.cumsum(keep)])[offsets]
    hashes = np.zeros(len(indices) + padding, dtype=np.uint64)
    np.take(distinct_hashes, indices, out=hashes[: len(indices)])
    return hashes, offsets


def _stable_hash(token: str) -> int:
    # Stable across processes (unlike hash()), so signatures are reproducible run to run.
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "replace"), digest_size=8).digest(), "little")


def _mix64(values: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """SplitMix64 finaliser, in place: spreads the polynomial combinations over all 64 bits."""
    shifted = np.empty_like(values) if scratch is None else scratch
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
        np.right_shift(values, np.uint64(shift), out=shifted)
        values ^= shifted
        if multiplier is not None:
            values *= np.uint64(multiplier)
    return values


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def _gather_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    starts, lengths = starts.astype(np.int64), lengths.astype(np.int64)
    total = int(lengths.sum())
    row_starts = np.cumsum(lengths) - lengths
    return np.repeat(starts - row_starts, lengths) + np.arange(total, dtype=np.int64)


def _gather_rows(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    if len(starts) and int(lengths.sum()) == len(values) and int(starts[0]) == 0:
        return values  # already contiguous
    return values[_gather_indices(starts, lengths)]


def _no_pairs() -> SimilarPairs:
    empty = np.zeros(0, dtype=np.int64)
    return SimilarPairs(empty, empty, np.zeros(0, dtype=np.float64))
