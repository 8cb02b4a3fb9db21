"""A dataset version's exploration as a ZenML artifact: the model as JSON, its HTML report and its review sample as
the dashboard's visualizations (the CSV renders as a table there), and counts as metadata."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.pydantic_materializer import PydanticMaterializer

from llm_engineering.domain.exploration import DatasetExploration

REPORT_FILE = "exploration.html"
REVIEW_FILE = "review_sample.csv"


def review_sample_path(uri: str) -> str:
    """Where the review CSV of the exploration stored at `uri` is (a local path with the local artifact store)."""
    return os.path.join(uri, REVIEW_FILE)


class ExplorationMaterializer(PydanticMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (DatasetExploration,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save_visualizations(self, data: DatasetExploration) -> dict[str, VisualizationType]:
        from llm_engineering.application.exploration.report_html import render_exploration, render_exploration_page
        from llm_engineering.application.exploration.review import review_csv_text

        visualizations: dict[str, VisualizationType] = {}
        report = os.path.join(self.uri, REPORT_FILE)
        review = review_sample_path(self.uri)
        try:
            html = render_exploration_page([render_exploration(data, review if data.review_sample else None)])
        except Exception as exc:  # noqa: BLE001 - a report that cannot render says why, the artifact is still saved
            html = render_exploration_page([f"<h1>{data.dataset} version {data.version}</h1><p>the report could not "
                                            f"be rendered: {type(exc).__name__}: {exc}</p>"])  # fmt: skip
        with self.artifact_store.open(report, "w") as file:
            file.write(html)
        visualizations[report.replace("\\", "/")] = VisualizationType.HTML
        if data.review_sample:
            with self.artifact_store.open(review, "w") as file:
                file.write(review_csv_text(data.review_sample))
            visualizations[review.replace("\\", "/")] = VisualizationType.CSV
        return visualizations

    def extract_metadata(self, data: DatasetExploration) -> dict[str, Any]:
        topics = data.topic_map
        metadata: dict[str, Any] = {
            "dataset": data.dataset,
            "dataset_version": data.version,
            "samples": data.statistics.samples,
            "topic_map": topics.status,
            "clusters": len(topics.clusters),
            "outliers": len(topics.outliers),
            "review_sample": len(data.review_sample),
            "errors": len(data.errors),
            "seconds": round(data.seconds, 1),
        }
        if data.review_sample:
            metadata["review_sample_file"] = review_sample_path(self.uri)
        if data.errors:
            metadata["first_error"] = data.errors[0]
        return metadata
