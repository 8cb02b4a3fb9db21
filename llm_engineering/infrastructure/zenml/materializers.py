"""JSON materializer for our artifact models that also writes the dashboard report and counts."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.pydantic_materializer import PydanticMaterializer

from llm_engineering.application.reports import render_markdown, summarize
from llm_engineering.domain.documents import Chunks, CleanedDocuments, EmbeddingSummary, RawDocuments
from llm_engineering.domain.samples import (
    CuratedInstructions,
    CuratedPreferences,
    DatasetPublication,
    GeneratedInstructions,
    GeneratedPreferences,
    RemovedSamples,
)


def flat_metadata(summary: dict[str, Any]) -> dict[str, Any]:
    """ZenML metadata values must be scalars, lists or flat-ish dicts; stringify deeper values."""
    return {k: (v if isinstance(v, (int, float, str, bool, dict, list)) else str(v)) for k, v in summary.items()}


class MarkdownReportMaterializer(PydanticMaterializer):
    """JSON like ZenML's pydantic materializer, plus a markdown report the dashboard shows and metadata."""

    REPORT_FILE: ClassVar[str] = "report.md"

    def render(self, data: Any) -> str:
        raise NotImplementedError

    def metadata(self, data: Any) -> dict[str, Any]:
        raise NotImplementedError

    def save_visualizations(self, data: Any) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, self.REPORT_FILE)
        with self.artifact_store.open(uri, "w") as file:
            file.write(self.render(data))
        return {uri.replace("\\", "/"): VisualizationType.MARKDOWN}

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return self.metadata(data)


class ReportedModelMaterializer(MarkdownReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (
        RawDocuments,
        CleanedDocuments,
        Chunks,
        EmbeddingSummary,
        GeneratedInstructions,
        GeneratedPreferences,
        CuratedInstructions,
        CuratedPreferences,
        RemovedSamples,
        DatasetPublication,
    )
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def render(self, data: Any) -> str:
        return render_markdown(data)

    def metadata(self, data: Any) -> dict[str, Any]:
        return flat_metadata(summarize(data))
