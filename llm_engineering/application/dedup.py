"""Deduplication of instruction / preference samples: exact, MinHash-LSH and semantic, each switchable.

Methods run in order (exact, minhash, semantic), each on what the previous kept. Within a method the
first occurrence is kept, and a sample is removed only when it matches an earlier sample that is
itself kept, so every removal names a kept sample (kept <-> removed pairs in the report).

Incremental versions: pass the previous version's samples as `previous`; they come first, are always
kept and are not returned; a new sample duplicating one of them is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from pydantic import BaseModel

from llm_engineering.application.minhash import find_similar_pairs
from llm_engineering.application.sample_text import Sample, dedup_text, normalise_text
from llm_engineering.domain.config.dataset_quality import DedupConfig, MinHashConfig, SemanticDedupConfig
from llm_engineering.domain.samples import RemovedSample
from llm_engineering.infrastructure.execution import ExecutionEngine, LocalEngine

EmbedFunction = Callable[[list[str]], np.ndarray]


class DuplicatePair(BaseModel):
    kept_id: str
    removed_id: str
    method: str
    similarity: float = 1.0


class DedupReport(BaseModel):
    input_count: int
    kept_count: int
    previous_count: int = 0
    removed_by_method: dict[str, int]
    pairs: list[DuplicatePair]


def deduplicate(
    samples: Sequence[Sample],
    config: DedupConfig,
    embed: EmbedFunction | None = None,
    previous: Sequence[Sample] = (),
    engine: ExecutionEngine | None = None,
) -> tuple[list[Sample], list[RemovedSample], DedupReport]:
    """Kept samples (input order), removed ones with the sample they duplicate, and the report.

    `embed` (e.g. `Embedder().encode`) is needed only when semantic dedup is enabled; `engine` computes the MinHash
    signatures and banding and the semantic neighbour search (the same pairs on any engine).
    """
    if config.semantic.enabled and embed is None:
        raise ValueError("semantic dedup is enabled but no embed function was given")
    pool = list(previous) + list(samples)
    protected = len(previous)
    alive = list(range(len(pool)))  # indices into pool still kept
    removed: list[RemovedSample] = []
    pairs: list[DuplicatePair] = []
    removed_by_method: dict[str, int] = {}
    texts = [dedup_text(sample) for sample in pool]

    methods: list[tuple[str, Callable[[list[str]], list[tuple[int, int, float]]]]] = []
    if config.exact.enabled:
        methods.append(("exact", exact_duplicate_pairs))
    if config.minhash.enabled:
        methods.append(("minhash", lambda subset: minhash_duplicate_pairs(subset, config.minhash, engine)))
    if config.semantic.enabled:
        methods.append(("semantic", lambda subset: semantic_duplicate_pairs(subset, embed, config.semantic, engine)))

    for method, find_pairs in methods:
        local_pairs = find_pairs([texts[index] for index in alive])
        matches = resolve_first_occurrence(local_pairs, len(alive), protected=sum(i < protected for i in alive))
        gone = set()
        for local_removed, (local_kept, similarity) in matches.items():
            kept_sample, removed_sample = pool[alive[local_kept]], pool[alive[local_removed]]
            gone.add(alive[local_removed])
            pairs.append(DuplicatePair(kept_id=kept_sample.sample_id, removed_id=removed_sample.sample_id,
                                       method=method, similarity=round(similarity, 4)))  # fmt: skip
            removed.append(
                RemovedSample(
                    sample_id=removed_sample.sample_id,
                    stage=f"dedup:{method}",
                    reason=f"{method} duplicate of {kept_sample.sample_id} (similarity {similarity:.3f})",
                    score=round(similarity, 4),
                    matched=kept_sample.sample_id,
                    text=texts[alive[local_removed]],
                )
            )
        removed_by_method[method] = len(gone)
        alive = [index for index in alive if index not in gone]

    kept = [pool[index] for index in alive if index >= protected]
    report = DedupReport(
        input_count=len(samples),
        kept_count=len(kept),
        previous_count=protected,
        removed_by_method=removed_by_method,
        pairs=pairs,
    )
    return kept, removed, report


def resolve_first_occurrence(
    pairs: list[tuple[int, int, float]], count: int, protected: int = 0
) -> dict[int, tuple[int, float]]:
    """removed index -> (kept index it duplicates, similarity), keeping first occurrences.

    Pairs are (earlier, later, similarity). Indices below `protected` are never removed. Walking the
    later index upwards, a sample goes when its most similar earlier match is still kept; a sample
    matching only removed ones stays (A~B, B~C, A!~C keeps A and C).
    """
    matches_of: dict[int, list[tuple[float, int]]] = {}
    for earlier, later, similarity in pairs:
        if earlier > later:
            earlier, later = later, earlier
        if later >= protected and later < count:
            matches_of.setdefault(later, []).append((similarity, earlier))
    removed: dict[int, tuple[int, float]] = {}
    for later in sorted(matches_of):
        candidates = [(similarity, -earlier) for similarity, earlier in matches_of[later] if earlier not in removed]
        if candidates:
            similarity, negative_earlier = max(candidates)  # most similar, then the earliest
            removed[later] = (-negative_earlier, similarity)
    return removed


def exact_duplicate_pairs(texts: list[str]) -> list[tuple[int, int, float]]:
    """Each text paired with the first text of equal normalised form (lowercase, no punctuation, one space)."""
    first_of: dict[bytes, int] = {}
    pairs = []
    for index, text in enumerate(texts):
        key = hashlib.blake2b(normalise_text(text).encode("utf-8", "replace"), digest_size=16).digest()
        if key in first_of:
            pairs.append((first_of[key], index, 1.0))
        else:
            first_of[key] = index
    return pairs


def minhash_duplicate_pairs(
    texts: list[str], config: MinHashConfig, engine: ExecutionEngine | None = None
) -> list[tuple[int, int, float]]:
    found = find_similar_pairs(texts, config, engine)
    return list(zip(found.left.tolist(), found.right.tolist(), found.similarity.tolist(), strict=True))


def semantic_duplicate_pairs(
    texts: list[str], embed: EmbedFunction, config: SemanticDedupConfig, engine: ExecutionEngine | None = None
) -> list[tuple[int, int, float]]:
    """Pairs (earlier, later) with embedding cosine >= threshold, from blockwise matrix products.

    Embeddings are L2-normalised here (cosine = dot product); each block of rows is compared with
    all earlier rows only, so memory is block_size x n and nothing is computed twice. Exact, not approximate:
    measured, the products are a few percent of the embedding's time at 25,000 samples (benchmarks/RESULTS.md),
    so the embedding is what to spread out (`embed` on the engine) and `engine` takes groups of blocks.
    """
    if len(texts) < 2:
        return []
    vectors = np.asarray(embed(texts), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    engine = engine or LocalEngine()
    starts = list(range(0, len(texts), config.block_size))
    search = partial(_block_pairs, vectors=vectors, block_size=config.block_size, threshold=config.threshold)
    return [
        pair for part in engine.map_batches(search, starts, -(-len(starts) // (4 * engine.workers))) for pair in part
    ]


def _block_pairs(
    starts: list[int], vectors: np.ndarray, block_size: int, threshold: float
) -> list[tuple[int, int, float]]:
    """The pairs whose later member is in the blocks starting at `starts`, in row order."""
    pairs = []
    for start in starts:
        stop = min(start + block_size, len(vectors))
        similarities = vectors[start:stop] @ vectors[:stop].T
        rows, columns = np.nonzero(similarities >= threshold)
        later = rows + start
        earlier_only = columns < later
        for row, column in zip(later[earlier_only].tolist(), columns[earlier_only].tolist(), strict=True):
            pairs.append((column, row, float(similarities[row - start, column])))
    return pairs
