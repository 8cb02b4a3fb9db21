from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import get_step_context, log_metadata, step

from llm_engineering.application.training.input_checks import check_training_inputs, dataset_lineage
from llm_engineering.domain.config.training import BaseModelConfig, DatasetsConfig, StagePlan
from llm_engineering.domain.model_summary import TrainingDatasets


@step
def validate_training_inputs(
    instruction_dataset: DatasetDict,
    preference_dataset: DatasetDict | None,
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    plan: StagePlan,
) -> Annotated[TrainingDatasets, "dataset_lineage"]:
    """Fails before any training on bad columns, empty splits, a too-small max_length or unknown modules."""
    counts = check_training_inputs(instruction_dataset, preference_dataset, base_model, plan)
    lineage = dataset_lineage(get_step_context().inputs, datasets)
    log_metadata({**counts, "datasets": lineage.model_dump(mode="json")["datasets"]})
    return lineage
