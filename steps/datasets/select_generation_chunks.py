from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.embedding import index_fingerprint
from llm_engineering.application.generation_selection import chunks_to_generate, generation_mark
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from llm_engineering.domain.documents import Chunks, EmbeddingSummary
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer


@step(enable_cache=False, output_materializers=ReportedModelMaterializer)
def select_generation_chunks(
    embedded_chunks: EmbeddingSummary,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
    datasets: DatasetGenerationConfig,
) -> Annotated[Chunks, "generation_chunks"]:
    """Chunks of documents whose samples are not in a published dataset yet (read from Qdrant, so a
    generation that failed in an earlier run is retried even though its chunks are already embedded)."""
    with open_client(qdrant) as client:
        chunks = chunks_to_generate(
            ChunkStore(client, qdrant.collection),
            index_fingerprint(chunking, embedding, cleaning),
            generation_mark(datasets),
            datasets.incremental,
        )
    log_metadata({"chunks": len(chunks), "documents": len({c.document_id for c in chunks})})
    return Chunks(chunks=chunks)
