from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.chunking import chunk_document
from llm_engineering.application.embedding import index_fingerprint
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.feature_engineering import ChunkingConfig, CleaningConfig, EmbeddingConfig
from llm_engineering.domain.documents import Chunks, CleanedDocuments
from llm_engineering.infrastructure.embedder import Embedder
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def chunk_documents(
    cleaned_documents: CleanedDocuments, cleaning: CleaningConfig, chunking: ChunkingConfig, embedding: EmbeddingConfig
) -> Annotated[Chunks, "chunks"]:
    tokenizer = Embedder(embedding.model, embedding.device).tokenizer()
    fingerprint = index_fingerprint(chunking, embedding, cleaning)
    chunks = Chunks(
        chunks=[c for d in cleaned_documents.documents for c in chunk_document(d, chunking, tokenizer, fingerprint)]
    )
    log_metadata(flat_metadata(summarize(chunks)))
    return chunks
