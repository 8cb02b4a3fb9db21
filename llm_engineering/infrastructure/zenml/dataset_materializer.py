"""ZenML's Hugging Face DatasetDict materializer, with empty splits that load back (see dataset_storage)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zenml.integrations.huggingface.materializers.huggingface_datasets_materializer import (
    DEFAULT_DATASET_DIR,
    HFDatasetMaterializer,
)
from zenml.utils import io_utils

from llm_engineering.infrastructure.dataset_storage import save_loadable


class DatasetVersionMaterializer(HFDatasetMaterializer):
    """Writes every split loadably and checks it reads back before the artifact exists; loads like ZenML's."""

    def save(self, ds: Any) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            path = Path(temp_dir) / DEFAULT_DATASET_DIR
            save_loadable(ds, path)
            io_utils.copy_dir(str(path), os.path.join(self.uri, DEFAULT_DATASET_DIR))
