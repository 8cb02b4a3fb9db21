from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.embedding import index_fingerprint, removed_from_sources, select_changed
from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from llm_engineering.domain.documents import RawDocuments
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer


@step(enable_cache=False, output_materializers=ReportedModelMaterializer)
def select_changed_documents(
    raw_documents: RawDocuments,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
) -> Annotated[RawDocuments, "changed_documents"]:
    with open_client(qdrant) as client:
        store = ChunkStore(client, qdrant.collection)
        fingerprint = index_fingerprint(chunking, embedding, cleaning)
        changed, unchanged = select_changed(raw_documents.documents, store, fingerprint)
        removed = removed_from_sources(store.scroll_payloads(store.documents_collection), raw_documents)
        store.remove_documents(removed)
    log_metadata(
        {
            "documents_in": len(raw_documents.documents),
            "changed_or_new": len(changed),
            "unchanged": unchanged,
            "removed_from_sources": len(removed),
        }
    )
    return RawDocuments(documents=changed)
