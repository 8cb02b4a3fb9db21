from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.embedding import embed_and_store, index_fingerprint
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.execution import ExecutionConfig
from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from llm_engineering.domain.documents import Chunks, CleanedDocuments, EmbeddingSummary
from llm_engineering.infrastructure.embedder import Embedder
from llm_engineering.infrastructure.execution import open_engine
from llm_engineering.infrastructure.qdrant import ChunkStore, describe, open_client
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def embed_and_load(
    chunks: Chunks,
    cleaned_documents: CleanedDocuments,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
    execution: ExecutionConfig | None = None,
) -> Annotated[EmbeddingSummary, "embedded_chunks"]:
    embedder = Embedder(embedding.model, embedding.device, embedding.batch_size)
    documents_meta = {
        d.document_id: {
            "location": d.location,
            "key": d.key,
            "source": d.source,
            "title": d.title,
            "author": d.author,
            "content_hash": d.content_hash,
            "fetched_at": d.fetched_at.isoformat(),
        }
        for d in cleaned_documents.documents
    }
    # The engine only computes the vectors; the upserts stay in this process (the step is the unit of lineage).
    with open_client(qdrant) as client, open_engine(execution) as engine:
        summary = embed_and_store(
            chunks.chunks,
            ChunkStore(client, qdrant.collection),
            embedder,
            embedding,
            index_fingerprint(chunking, embedding, cleaning),
            documents_meta,
            round_size=qdrant.upsert_batch_size,
            engine=engine,
        )
    summary.location = describe(qdrant)
    log_metadata(flat_metadata(summarize(summary)))
    return summary
