"""Explore one dataset version: statistics, then the topic map, then the review sample. Each part that fails is
reported in the exploration (`errors`, the map's status) and the others still run: exploration never fails a run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from datasets import DatasetDict

from llm_engineering.application.exploration.review import review_sample
from llm_engineering.application.exploration.statistics import (
    WHITESPACE,
    CountTokens,
    count_words,
    dataset_statistics,
    fields_of,
    main_score_column,
)
from llm_engineering.application.exploration.topics import TooFewSamples, require_enough_samples, topic_map
from llm_engineering.application.exploration.vectors import ChunkVectors, Embed, sample_vectors
from llm_engineering.domain.config.dataset_generation import ExplorationConfig
from llm_engineering.domain.config.feature_engineering import EmbeddingConfig, QdrantConfig
from llm_engineering.domain.exploration import DatasetExploration, DatasetStatistics, TopicMap

logger = logging.getLogger(__name__)


def dataset_rows(dataset: DatasetDict) -> list[dict[str, Any]]:
    """Every sample of the version, each with its split (train first, as the dataset lists them)."""
    return [{**row, "split": split} for split in dataset for row in dataset[split]]


def kind_of(dataset: DatasetDict) -> str:
    columns = {column for split in dataset.values() for column in split.column_names}
    return "preference" if {"chosen", "rejected"} <= columns else "instruction"


def explore_configured(
    dataset: DatasetDict, name: str, version: str, config: ExplorationConfig, embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
) -> DatasetExploration:  # fmt: skip
    """`explore_dataset` with the feature pipeline's embedder (its tokenizer counts tokens unless `config.tokenizer`
    is whitespace) and its Qdrant collection's chunk vectors."""
    from llm_engineering.infrastructure.embedder import Embedder
    from llm_engineering.infrastructure.qdrant import chunk_vector_lookup

    embedder = Embedder(embedding.model, embedding.device, embedding.batch_size)
    count, tokenizer = None, WHITESPACE
    if config.tokenizer == "embedding":
        count, tokenizer = embedder.tokenizer().count, f"{embedding.model} tokenizer"
    return explore_dataset(dataset, name, version, config, embedder.encode, count, tokenizer,
                           chunk_vector_lookup(qdrant))  # fmt: skip


def _failure(part: str, exc: BaseException) -> str:
    logger.warning("exploration: %s failed: %r", part, exc, exc_info=exc)
    return f"{part} failed: {type(exc).__name__}: {exc}"


def explore_dataset(
    dataset: DatasetDict,
    name: str,
    version: str,
    config: ExplorationConfig,
    embed: Embed,
    count_tokens: CountTokens | None = None,
    tokenizer: str = WHITESPACE,
    chunk_vectors: ChunkVectors | None = None,
    on_progress: Callable[[str], None] = logger.info,
) -> DatasetExploration:
    """`count_tokens` None: words (the whitespace fallback, named as such in the report); `chunk_vectors`: looks up
    stored chunk vectors by chunk id (config.vectors `chunks`)."""
    started = time.perf_counter()
    rows = dataset_rows(dataset)
    kind = kind_of(dataset)
    errors: list[str] = []
    try:
        statistics = dataset_statistics(
            rows, kind, count_tokens or count_words, tokenizer if count_tokens else WHITESPACE
        )
    except Exception as exc:  # noqa: BLE001 - reported in the exploration, never raised
        errors.append(_failure("statistics", exc))
        statistics = DatasetStatistics(samples=len(rows), tokenizer=tokenizer)
    on_progress(f"{name} {version}: statistics of {len(rows)} samples")
    first, second = fields_of(kind)[:2]
    titles = [str(row.get(first) or "") for row in rows]
    texts = [f"{title}\n{row.get(second) or ''}" for title, row in zip(titles, rows, strict=True)]
    try:
        require_enough_samples(len(rows), config)  # before any embedding work
        chunks = [str(row.get("chunk_id") or "") for row in rows]
        vectors, from_chunks = sample_vectors(
            chunks, texts, embed, chunk_vectors if config.vectors == "chunks" else None
        )
        on_progress(f"{name} {version}: {len(rows)} vectors ({from_chunks} from chunks); mapping")
        topics = topic_map(rows, texts, titles, vectors, config, main_score_column(rows))
        topics.vectors_from_chunks, topics.vectors_embedded = from_chunks, len(rows) - from_chunks
    except TooFewSamples as exc:
        topics = TopicMap(status="too_few_samples", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - a clustering or embedding error is reported, never raised
        errors.append(_failure("topic map", exc))
        topics = TopicMap(status="failed", message=errors[-1])
    try:
        review = review_sample(rows, kind, name, version, topics, config.review_per_cluster, config.seed)
    except Exception as exc:  # noqa: BLE001
        errors.append(_failure("review sample", exc))
        review = []
    return DatasetExploration(
        dataset=name, version=version, kind=kind, statistics=statistics, topic_map=topics,  # type: ignore[arg-type]
        review_sample=review, errors=errors, seconds=time.perf_counter() - started,
    )  # fmt: skip
