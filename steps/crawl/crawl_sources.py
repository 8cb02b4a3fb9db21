from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.crawling.sources import (
    check_failure_budget,
    check_not_every_source_empty,
    empty_sources,
)
from llm_engineering.application.crawling.sources import crawl_sources as crawl
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.feature_engineering import CrawlConfig
from llm_engineering.domain.documents import RawDocuments
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata
from llm_engineering.settings import get_settings


# Never cached: the sources live outside ZenML and may have changed since the last run.
@step(enable_cache=False, output_materializers=ReportedModelMaterializer)
def crawl_sources(
    crawl_config: CrawlConfig, previous_raw_documents: RawDocuments | None = None
) -> Annotated[RawDocuments, "raw_documents"]:
    documents = crawl(crawl_config, clones_dir=get_settings().path("git_clones"), previous=previous_raw_documents)
    warnings = empty_sources(crawl_config, documents)  # the run summary prints a step's `warnings`
    log_metadata(flat_metadata(summarize(documents)) | ({"warnings": warnings} if warnings else {}))
    check_failure_budget(documents, crawl_config.max_failed_fraction)
    check_not_every_source_empty(crawl_config, documents)
    return documents
