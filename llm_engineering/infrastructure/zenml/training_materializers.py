"""Materializers that make the training pipeline's reports visible in the dashboard."""

from __future__ import annotations

import base64
import os
from typing import Any, ClassVar

from pydantic import BaseModel
from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.pydantic_materializer import PydanticMaterializer

from llm_engineering.application.evaluation.scores import EvaluationReport, render_markdown
from llm_engineering.domain.model_summary import ModelVersionSummary
from llm_engineering.domain.training import TrainedStage
from llm_engineering.infrastructure.zenml.materializers import MarkdownReportMaterializer


class LossCurves(BaseModel):
    """The PNG plot plus the numbers it was drawn from."""

    png_base64: str
    histories: dict[str, list[dict[str, float]]]

    @classmethod
    def from_png(cls, png: bytes, histories: dict[str, list[dict[str, float]]]) -> LossCurves:
        return cls(png_base64=base64.b64encode(png).decode(), histories=histories)

    def png(self) -> bytes:
        return base64.b64decode(self.png_base64)


class EvaluationReportMaterializer(MarkdownReportMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (EvaluationReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS
    REPORT_FILE: ClassVar[str] = "comparison.md"

    def render(self, data: EvaluationReport) -> str:
        return render_markdown(data)

    def metadata(self, data: EvaluationReport) -> dict[str, Any]:
        return data.metrics()


class LossCurvesMaterializer(PydanticMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (LossCurves,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def save_visualizations(self, data: LossCurves) -> dict[str, VisualizationType]:
        uri = os.path.join(self.uri, "loss_curves.png")
        with self.artifact_store.open(uri, "wb") as file:
            file.write(data.png())
        return {uri.replace("\\", "/"): VisualizationType.IMAGE}


class TrainedStageMaterializer(MarkdownReportMaterializer):
    """A stage's model folder, what it started from and its metrics, shown in the dashboard."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TrainedStage,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL
    REPORT_FILE: ClassVar[str] = "stage.md"

    def render(self, data: TrainedStage) -> str:
        lines = [
            f"# Stage `{data.name}` ({data.kind})",
            "",
            f"Started from `{data.started_from}`; {data.method} {'adapter' if data.is_adapter else 'weights'} in "
            f"`{data.model_dir}`"
            + (f"; resumed from `{data.result.resumed_from}`" if data.result.resumed_from else ""),
            "",
            "| metric | value |",
            "|---|---|",
        ]
        lines += [f"| {key} | {value:.4f} |" for key, value in sorted(data.result.metrics.items())]
        return "\n".join(lines) + "\n"

    def metadata(self, data: TrainedStage) -> dict[str, Any]:
        return {"stage": data.name, "kind": data.kind, "started_from": data.started_from, **data.result.metrics}


class ModelVersionSummaryMaterializer(MarkdownReportMaterializer):
    """The model version's stage, metrics, datasets, run and promotion, shown in the open-source dashboard (whose
    Models page is ZenML Pro only)."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ModelVersionSummary,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS
    REPORT_FILE: ClassVar[str] = "model_summary.md"

    def render(self, data: ModelVersionSummary) -> str:
        from llm_engineering.application.model_summary import render_markdown as render_summary

        return render_summary(data)

    def metadata(self, data: ModelVersionSummary) -> dict[str, Any]:
        recorded = {"model": data.model, "version": data.version, "stage": data.stage or "none",
                    "promoted": data.promotion.promoted, "promotion": data.promotion.reason, "run": data.run_name,
                    "datasets": [d.label for d in data.datasets]}  # fmt: skip
        return {**recorded, **data.metrics}
