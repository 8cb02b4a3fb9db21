from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.cleaning import clean_documents as clean
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.feature_engineering import CleaningConfig
from llm_engineering.domain.documents import CleanedDocuments, RawDocuments
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def clean_documents(
    changed_documents: RawDocuments, cleaning: CleaningConfig, raw_documents: RawDocuments | None = None
) -> Annotated[CleanedDocuments, "cleaned_documents"]:
    # Every crawled document (raw_documents), not only the changed ones, counts towards the lines a site repeats.
    cleaned = clean(changed_documents.documents, cleaning, raw_documents.documents if raw_documents else None)
    log_metadata(flat_metadata(summarize(cleaned)))
    return cleaned
