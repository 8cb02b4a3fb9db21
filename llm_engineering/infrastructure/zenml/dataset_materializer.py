"""ZenML's Hugging Face DatasetDict materializer, with empty splits that load back (see dataset_storage), the
dataset's own HTML report as its visualization and metadata that says what it holds.

ZenML's materializer adds no visualization for a local dataset and, as metadata, pandas' description of every split
(empty sections for text columns). This one shows the curation report of the version (given by the publishing step
through `reporting`) above a table of its first rows, and records rows per split and the columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from zenml.enums import VisualizationType
from zenml.integrations.huggingface.materializers.huggingface_datasets_materializer import (
    DEFAULT_DATASET_DIR,
    HFDatasetMaterializer,
)
from zenml.utils import io_utils

from llm_engineering.domain.samples import CurationReport
from llm_engineering.infrastructure.dataset_storage import save_loadable

REPORT_FILE = "dataset.html"
SAMPLE_ROWS = 5  # per split, in the visualization's table

# The curation report of the dataset being saved: ZenML hands a materializer only the data, and the report is not
# part of a DatasetDict.
_report: ContextVar[CurationReport | None] = ContextVar("dataset_curation_report", default=None)


@contextmanager
def reporting(report: CurationReport) -> Iterator[None]:
    """Within this block, a dataset saved with DatasetVersionMaterializer shows `report` in its visualization."""
    token = _report.set(report)
    try:
        yield
    finally:
        _report.reset(token)


class DatasetVersionMaterializer(HFDatasetMaterializer):
    """Writes every split loadably and checks it reads back before the artifact exists; loads like ZenML's."""

    def save(self, ds: Any) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            path = Path(temp_dir) / DEFAULT_DATASET_DIR
            save_loadable(ds, path)
            io_utils.copy_dir(str(path), os.path.join(self.uri, DEFAULT_DATASET_DIR))

    def extract_metadata(self, ds: Any) -> dict[str, Any]:
        splits = {name: len(split) for name, split in ds.items()}
        columns = sorted({column for split in ds.values() for column in split.column_names})
        # The columns as one string: the dashboard wraps a string, and cuts a list off at the panel's edge.
        return {"rows": splits, "samples": sum(splits.values()), "columns": ", ".join(columns)}

    def save_visualizations(self, ds: Any) -> dict[str, VisualizationType]:
        from llm_engineering.application.dataset_report import render_dataset_report, render_page

        uri = os.path.join(self.uri, REPORT_FILE)
        with self.artifact_store.open(uri, "w") as file:
            file.write(render_page([render_dataset_report(_report.get(), ds, max_samples=SAMPLE_ROWS)]))
        return {uri.replace("\\", "/"): VisualizationType.HTML}
