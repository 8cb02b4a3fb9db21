from zenml import pipeline

from llm_engineering.domain.config.feature_engineering import (
    ChunkingConfig,
    CleaningConfig,
    CrawlConfig,
    EmbeddingConfig,
    QdrantConfig,
)
from steps.chunk.chunk_documents import chunk_documents
from steps.clean.clean_documents import clean_documents
from steps.clean.select_changed_documents import select_changed_documents
from steps.crawl.crawl_sources import crawl_sources
from steps.embed.embed_and_load import embed_and_load


@pipeline
def feature_engineering(
    crawl: CrawlConfig,
    cleaning: CleaningConfig,
    chunking: ChunkingConfig,
    embedding: EmbeddingConfig,
    qdrant: QdrantConfig,
) -> None:
    raw_documents = crawl_sources(crawl)
    changed_documents = select_changed_documents(raw_documents, chunking, embedding, qdrant)
    cleaned_documents = clean_documents(changed_documents, cleaning)
    chunks = chunk_documents(cleaned_documents, chunking, embedding)
    embed_and_load(chunks, cleaned_documents, chunking, embedding, qdrant)
