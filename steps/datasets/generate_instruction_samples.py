from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.dataset_generation.extracts import build_extracts
from llm_engineering.application.dataset_generation.failure_budget import check_generation_budget
from llm_engineering.application.dataset_generation.instructions import generate_instructions
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.documents import Chunks
from llm_engineering.domain.samples import GeneratedInstructions
from llm_engineering.infrastructure.llm.factory import build_provider
from llm_engineering.infrastructure.zenml.failed_step_artifacts import kept_as_artifact
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


@step(output_materializers=ReportedModelMaterializer)
def generate_instruction_samples(
    generation_chunks: Chunks, datasets: DatasetGenerationConfig
) -> Annotated[GeneratedInstructions, "generated_instructions"]:
    extracts = build_extracts(generation_chunks.chunks, datasets.extracts)
    provider = build_provider(datasets.llm)
    settings = datasets.instruction_settings()  # what instructions leaves out comes from datasets.llm
    generated = generate_instructions(extracts, provider, settings, datasets.prompts, show_progress=True)
    generated.usage = provider.usage()
    log_metadata(flat_metadata(summarize(generated)))
    # Past the failure budget the step fails; what it generated, failures and their causes, is kept first.
    keep = kept_as_artifact(generated, "instruction_generation_failures")
    check_generation_budget(len(generated.samples), generated.failures, datasets.max_failed_fraction, keep)
    return generated
