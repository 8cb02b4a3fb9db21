"""The curation stages (`datasets.curation.stages`: quality filters, dedup also against the previous dataset version,
decontamination, in the configured order) on the generated samples."""

from functools import partial
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.dataset_curation import curate
from llm_engineering.application.dataset_publication import from_dataset_dict
from llm_engineering.application.reports import summarize
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.execution import ExecutionConfig
from llm_engineering.domain.config.feature_engineering import EmbeddingConfig
from llm_engineering.domain.samples import (
    CuratedInstructions,
    CuratedPreferences,
    GeneratedInstructions,
    GeneratedPreferences,
)
from llm_engineering.infrastructure.embedder import Embedder
from llm_engineering.infrastructure.execution import open_engine
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer, flat_metadata


def _curate(
    name: str,
    generated: GeneratedInstructions | GeneratedPreferences,
    datasets: DatasetGenerationConfig,
    embedding: EmbeddingConfig,
    previous: DatasetDict | None,
    execution: ExecutionConfig | None,
) -> dict:
    kind = name.split("_")[0]
    old = [s for split in from_dataset_dict(previous, kind).values() for s in split] if previous is not None else []
    embedder = Embedder(embedding.model, embedding.device, embedding.batch_size)
    # The engine only computes (embeddings, MinHash, neighbour search); which samples stay, in what order, is
    # decided here, so the step's artifact is the same on any engine.
    with open_engine(execution) as engine:
        samples, removed, report = curate(
            name,
            generated.samples,
            generated.failures,
            datasets,
            embedder.encode if engine.name == "local" else partial(embedder.encode_on, engine),
            previous=old,
            usage=generated.usage,
            dropped=generated.dropped,
            answers_generated=getattr(generated, "answers_generated", 0),
            answers_truncated=getattr(generated, "answers_truncated", 0),
            ranking=getattr(generated, "ranking", None),
            engine=engine,
        )
    return {"samples": samples, "removed": removed, "report": report}


@step(output_materializers=ReportedModelMaterializer)
def curate_instruction_samples(
    generated_instructions: GeneratedInstructions,
    datasets: DatasetGenerationConfig,
    embedding: EmbeddingConfig,
    previous_instruction_dataset: DatasetDict | None = None,
    execution: ExecutionConfig | None = None,
) -> Annotated[CuratedInstructions, "curated_instructions"]:
    curated = CuratedInstructions(
        **_curate(
            "instruction_dataset", generated_instructions, datasets, embedding, previous_instruction_dataset, execution
        )
    )
    log_metadata(flat_metadata(summarize(curated)))
    return curated


@step(output_materializers=ReportedModelMaterializer)
def curate_preference_samples(
    generated_preferences: GeneratedPreferences,
    datasets: DatasetGenerationConfig,
    embedding: EmbeddingConfig,
    previous_preference_dataset: DatasetDict | None = None,
    execution: ExecutionConfig | None = None,
) -> Annotated[CuratedPreferences, "curated_preferences"]:
    curated = CuratedPreferences(
        **_curate(
            "preference_dataset", generated_preferences, datasets, embedding, previous_preference_dataset, execution
        )
    )
    log_metadata(flat_metadata(summarize(curated)))
    return curated
