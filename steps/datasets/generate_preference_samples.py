from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.dataset_generation.failure_budget import check_generation_budget
from llm_engineering.application.dataset_generation.preferences import generate_preferences
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.samples import CuratedInstructions, GeneratedPreferences
from llm_engineering.infrastructure.llm.factory import build_provider
from llm_engineering.infrastructure.zenml.failed_step_artifacts import kept_as_artifact
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def generate_preference_samples(
    curated_instructions: CuratedInstructions, datasets: DatasetGenerationConfig
) -> Annotated[GeneratedPreferences, "generated_preferences"]:
    provider = build_provider(datasets.llm)
    generated = generate_preferences(
        curated_instructions.samples, provider, datasets.preference_settings(), datasets.prompts, show_progress=True
    )
    generated.usage = provider.usage()
    log_metadata(flat_metadata(summarize(generated)))
    # Past the failure budget the step fails; what it generated, failures and their causes, is kept first.
    keep = kept_as_artifact(generated, "preference_generation_failures")
    check_generation_budget(len(generated.samples), generated.failures, datasets.max_failed_fraction, keep)
    return generated
