"""One vector per sample for the topic map: its chunk's vector from Qdrant where the chunk is found (the feature
pipeline already embedded it), else the sample's own text embedded with the pipeline's embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

ChunkVectors = Callable[[list[str]], dict[str, list[float]]]  # chunk ids -> the vectors found
Embed = Callable[[list[str]], np.ndarray]  # texts -> normalised vectors


def sample_vectors(
    chunk_ids: Sequence[str], texts: Sequence[str], embed: Embed, chunk_vectors: ChunkVectors | None = None
) -> tuple[np.ndarray, int]:
    """(one row per sample, how many came from chunk vectors). A stored vector of another size than the embedder's
    (an index built with another model) is not mixed in: those samples are embedded too."""
    found = chunk_vectors([c for c in chunk_ids if c]) if chunk_vectors is not None else {}
    missing = [i for i, chunk in enumerate(chunk_ids) if chunk not in found]
    embedded = embed([texts[i] for i in missing]) if missing else None
    size = embedded.shape[1] if embedded is not None else len(next(iter(found.values()), []))
    if embedded is not None and any(len(v) != size for v in found.values()):
        return embed(list(texts)), 0
    vectors = np.zeros((len(chunk_ids), size), dtype=np.float32)
    for i, chunk in enumerate(chunk_ids):
        if chunk in found:
            vectors[i] = found[chunk]
    if embedded is not None:
        vectors[missing] = embedded
    return vectors, len(chunk_ids) - len(missing)
