from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.cleaning import clean_documents as clean
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.feature_engineering import CleaningConfig
from llm_engineering.domain.documents import CleanedDocuments, RawDocuments
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def clean_documents(
    changed_documents: RawDocuments, cleaning: CleaningConfig
) -> Annotated[CleanedDocuments, "cleaned_documents"]:
    cleaned = clean(changed_documents.documents, cleaning)
    log_metadata(flat_metadata(summarize(cleaned)))
    return cleaned
