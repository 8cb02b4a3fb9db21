from pathlib import Path
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.training.data_preparation import load_local_dataset as load


# Never cached: the folder lives outside ZenML and may have changed.
@step(enable_cache=False)
def load_local_dataset(path: str) -> Annotated[DatasetDict, "local_dataset"]:
    dataset = load(Path(path))
    log_metadata({"path": path, **{f"{split}_samples": len(dataset[split]) for split in dataset}})
    return dataset
