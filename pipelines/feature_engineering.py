from zenml import pipeline

from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.execution import ExecutionConfig
from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    CrawlConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from llm_engineering.infrastructure.zenml.artifacts import check_dataset_version, find_artifact_version
from steps.chunk.chunk_documents import chunk_documents
from steps.clean.clean_documents import clean_documents
from steps.clean.select_changed_documents import select_changed_documents
from steps.crawl.crawl_sources import crawl_sources
from steps.datasets.curate_samples import curate_instruction_samples, curate_preference_samples
from steps.datasets.explore_datasets import explore_datasets
from steps.datasets.generate_instruction_samples import generate_instruction_samples
from steps.datasets.generate_preference_samples import generate_preference_samples
from steps.datasets.mark_documents_generated import mark_documents_generated
from steps.datasets.publish_datasets import publish_datasets
from steps.datasets.select_generation_chunks import select_generation_chunks
from steps.embed.embed_and_load import embed_and_load


@pipeline
def feature_engineering(
    crawl: CrawlConfig,
    datasets: DatasetGenerationConfig,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
    execution: ExecutionConfig,
) -> None:
    raw_documents = crawl_sources(crawl, find_artifact_version("raw_documents"))
    changed_documents = select_changed_documents(raw_documents, cleaning, chunking, embedding, qdrant)
    cleaned_documents = clean_documents(changed_documents, cleaning, raw_documents)
    chunks = chunk_documents(cleaned_documents, cleaning, chunking, embedding)
    embedded_chunks = embed_and_load(chunks, cleaned_documents, cleaning, chunking, embedding, qdrant, execution)
    if not datasets.enabled:
        return
    # Incremental versions: the new samples are deduplicated against, and appended to, the latest ones.
    last_instructions = _previous_version("instruction_dataset") if datasets.incremental else None
    last_preferences = _previous_version("preference_dataset") if datasets.incremental else None
    generation_chunks = select_generation_chunks(embedded_chunks, cleaning, chunking, embedding, qdrant, datasets)
    generated_instructions = generate_instruction_samples(generation_chunks, datasets)
    curated_instructions = curate_instruction_samples(
        generated_instructions, datasets, embedding, last_instructions, execution
    )
    generated_preferences = generate_preference_samples(curated_instructions, datasets)
    curated_preferences = curate_preference_samples(
        generated_preferences, datasets, embedding, last_preferences, execution
    )
    # What reviewers rejected (`llm-engineering review import`): left out of the next versions.
    review_verdicts = find_artifact_version("review_verdicts")
    dataset_publication, _, _ = publish_datasets(
        curated_instructions, curated_preferences, datasets, last_instructions, last_preferences, review_verdicts
    )
    mark_documents_generated(dataset_publication, generation_chunks, cleaning, chunking, embedding, qdrant, datasets)
    # Last: the datasets are published and their documents marked before exploration (which never fails the run).
    explore_datasets(dataset_publication, datasets.exploration, embedding, qdrant, after="mark_documents_generated")


def _previous_version(name: str):  # noqa: ANN202 - a ZenML artifact version, or None
    """The latest version, checked to load now (before any step runs), so a bad one is named instead of failing
    every later run inside a step."""
    version = find_artifact_version(name)
    if version is not None:
        check_dataset_version(
            version, "Start a fresh lineage with `--set datasets.incremental=false`, or delete that version "
            f"(`zenml artifact version delete {version.id}`) to append to the one before it.",
        )  # fmt: skip
    return version
