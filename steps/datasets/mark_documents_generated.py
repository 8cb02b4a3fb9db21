from zenml import log_metadata, step

from llm_engineering.application.embedding import index_fingerprint
from llm_engineering.application.generation_selection import generation_mark
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from llm_engineering.domain.documents import Chunks
from llm_engineering.domain.samples import DatasetPublication
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client


@step(enable_cache=False)
def mark_documents_generated(
    dataset_publication: DatasetPublication,
    generation_chunks: Chunks,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
    datasets: DatasetGenerationConfig,
) -> None:
    """Runs only once the dataset versions are saved (or publication found nothing new): until then the documents
    count as not generated."""
    document_ids = sorted({c.document_id for c in generation_chunks.chunks})
    with open_client(qdrant) as client:
        ChunkStore(client, qdrant.collection).set_document_mark(
            document_ids, index_fingerprint(chunking, embedding, cleaning), generation_mark(datasets)
        )
    log_metadata({"documents_marked": len(document_ids), "published": dataset_publication.describe()})
