from pathlib import Path
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.training.local_datasets import Kind, load_local_dataset


def _load(path: str, kind: Kind) -> DatasetDict:
    dataset, shapes = load_local_dataset(Path(path), kind)
    log_metadata({"path": path, "shape": shapes, **{f"{split}_samples": len(dataset[split]) for split in dataset}})
    return dataset


# Never cached: the folders live outside ZenML and may have changed. Two steps, so that each dataset is its own
# artifact (a ZenML output name is fixed per step), apart from the feature pipeline's instruction_dataset versions.
@step(enable_cache=False)
def load_local_instruction_dataset(path: str) -> Annotated[DatasetDict, "local_instruction_dataset"]:
    """datasets.instruction.path, converted to instruction/answer/messages (local_datasets.INSTRUCTION_SHAPES)."""
    return _load(path, "instruction")


@step(enable_cache=False)
def load_local_preference_dataset(path: str) -> Annotated[DatasetDict, "local_preference_dataset"]:
    """datasets.preference.path, converted to prompt/chosen/rejected strings (local_datasets.PREFERENCE_SHAPES)."""
    return _load(path, "preference")
