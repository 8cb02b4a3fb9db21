"""The feature pipeline's `parameters:` block, validated before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, Field, TypeAdapter, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel, repeated
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.execution import ExecutionConfig

DEFAULT_VENDORED = [
    "**/node_modules/**",
    "**/vendor/**",
    "**/third_party/**",
    "**/.git/**",
    "**/dist/**",
    "**/build/**",
    "**/*.min.js",
    "**/*.lock",
]


class FolderSource(StrictModel):
    type: Literal["folder"] = "folder"
    name: str
    path: Path
    include: list[str] = ["**/*.md", "**/*.markdown", "**/*.txt", "**/*.html", "**/*.htm", "**/*.pdf", "**/*.py"]
    exclude: list[str] = DEFAULT_VENDORED

    @field_validator("path")
    @classmethod
    def _folder_exists(cls, path: Path) -> Path:
        if not path.is_dir():
            raise ValueError(f"folder does not exist: {path}")
        return path


_HTTP_URL = TypeAdapter(AnyHttpUrl)


def _http_url(value: str) -> str:
    # Validated as a URL but kept a plain string: ZenML step parameters must be JSON-serialisable.
    _HTTP_URL.validate_python(value)
    return value


HttpUrlString = Annotated[str, AfterValidator(_http_url)]


class UrlSource(StrictModel):
    type: Literal["url"] = "url"
    name: str
    urls: list[HttpUrlString] = Field(min_length=1)


class GitSource(StrictModel):
    type: Literal["git"] = "git"
    name: str
    repository: str = Field(description="local path or clone URL")
    revision: str | None = None
    include: list[str] = ["**/*.py", "**/*.md", "**/*.txt", "**/*.rst"]
    exclude: list[str] = DEFAULT_VENDORED

    @field_validator("repository")
    @classmethod
    def _path_or_url(cls, repository: str) -> str:
        remote = repository.startswith(("http://", "https://", "ssh://", "git@", "file://"))
        if not remote and not Path(repository).is_dir():
            raise ValueError(f"not a URL and no such folder: {repository}")
        return repository


Source = Annotated[FolderSource | UrlSource | GitSource, Field(discriminator="type")]


class HttpConfig(StrictModel):
    timeout_s: float = Field(
        10.0,
        gt=0,
        description="overall deadline for each request of an attempt (robots.txt too): connecting, the headers "
        "and the whole body must arrive within it (a server that drips bytes cannot hold the crawl); "
        "a miss is a transient timeout, retried, and the partial page is never kept",
    )
    max_bytes: int = Field(2_000_000, gt=0)
    max_redirects: int = Field(5, ge=0)
    politeness_delay_s: float = Field(1.0, ge=0)
    retries: int = Field(2, ge=0, description="extra attempts on timeouts and 5xx")
    backoff_s: float = Field(0.5, ge=0)
    respect_robots_txt: bool = True
    user_agent: str = "llm-engineering-crawler/0.1 (+https://github.com/llm-engineering)"
    allowed_content_types: list[str] = ["text/html", "text/plain", "text/markdown", "application/xhtml+xml"]


class CrawlConfig(StrictModel):
    sources: list[Source] = Field(min_length=1)
    http: HttpConfig = HttpConfig()
    max_failed_fraction: float = Field(0.5, ge=0, le=1)
    max_file_bytes: int = Field(5_000_000, gt=0)

    @model_validator(mode="after")
    def _unique_names(self) -> CrawlConfig:
        duplicates = repeated([s.name for s in self.sources])
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {duplicates}")
        return self


class CleaningConfig(StrictModel):
    redact_emails: bool = True
    redact_phone_numbers: bool = True
    redact_secrets: bool = True
    drop_boilerplate: bool = True
    drop_repeated_lines: bool = Field(
        True,
        description="drop the lines a site repeats on most of its pages (author bios, sign-offs, plugs, licence "
        "headers): in at least repeated_line_min_documents of its documents and repeated_line_min_fraction of them",
    )
    repeated_line_min_documents: int = Field(3, ge=2, description="a line in fewer documents of a site is kept")
    repeated_line_min_fraction: float = Field(
        0.5, gt=0, le=1, description="a line in a smaller share of a site's documents is kept"
    )
    min_characters: int = Field(50, ge=0, description="documents shorter than this after cleaning are dropped")


class ChunkingConfig(StrictModel):
    chunk_size: int = Field(200, gt=8, description="max tokens per chunk (embedder tokenizer)")
    chunk_overlap: int = Field(30, ge=0)
    min_chunk_tokens: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _overlap_smaller_than_size(self) -> ChunkingConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


class EmbeddingConfig(StrictModel):
    model: str = Field("bundled:all-MiniLM-L6-v2", description="'bundled:...' or a local sentence-transformers folder")
    batch_size: int = Field(64, gt=0)
    device: str = "cpu"
    show_progress: bool = True


class QdrantConfig(StrictModel):
    url: str | None = Field(None, description="server URL; embedded local mode when unset")
    path: Path | None = Field(None, description="local-mode folder; defaults to <data_dir>/qdrant")
    collection: str = "chunks"
    upsert_batch_size: int = Field(256, gt=0)


class FeatureEngineeringParameters(StrictModel):
    crawl: CrawlConfig
    datasets: DatasetGenerationConfig = DatasetGenerationConfig()
    cleaning: CleaningConfig = CleaningConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    qdrant: QdrantConfig = QdrantConfig()
    execution: ExecutionConfig = Field(
        ExecutionConfig(), description="where embedding, MinHash and semantic dedup compute: local or a Ray cluster"
    )
