"""What a training run made of its model version, as one artifact: the open-source ZenML dashboard shows artifacts,
not the Model Control Plane (its Models page is a ZenML Pro feature), and `llm-engineering lineage model:<name>`
prints the same record."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class EvaluatedModel(BaseModel):
    """One row of the evaluation: the base model or a trained stage, and what it scored."""

    model: str = Field(description='"base" or a stage name')
    kind: str = Field(description='the stage kind (sft, dpo, ...), "base" for the base model')
    metrics: dict[str, float] = Field({}, description="eval_loss, perplexity, rouge_l, reward_accuracy, judge_score...")


class TrainingDataset(BaseModel):
    """A dataset the run trained on: a ZenML artifact version, or a local folder."""

    name: str
    version: str | None = None
    artifact_id: str | None = None
    path: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}" if self.version else f"{self.name} from {self.path}"

    def describe(self) -> str:
        """How the model card names it."""
        if self.artifact_id:
            return f"`{self.name}` version {self.version} (artifact version id {self.artifact_id})"
        return f"`{self.name}` from {self.path}"


class TrainingDatasets(BaseModel):
    """The `dataset_lineage` artifact: each dataset input of the run (instruction_dataset, preference_dataset) and the
    version or folder it read."""

    datasets: dict[str, TrainingDataset] = {}


class GgufFile(BaseModel):
    """One GGUF file of an export, as the model card and the model version's metadata list it."""

    file: str
    quantization: str
    size_bytes: int
    sha256: str


class ExportedModel(BaseModel):
    """The `exported_model` artifact (and the model version's `exported_model` metadata): where the final stage's
    model was written, what it holds, and where it was pushed."""

    folder: Path
    merged: bool = Field(description="an adapter merged into full weights (or a full fine-tune)")
    stage: str = Field(description="the stage whose model this is: the plan's last policy stage")
    hub_url: str | None = None
    gguf: list[GgufFile] = Field([], description="the GGUF files in the folder: what `llm-engineering serve` serves")


def recorded_export(metadata: Mapping[str, Any]) -> ExportedModel | None:
    """A model version's `exported_model` metadata, read back as what the export step returned; None when the run
    recorded none (it stopped before export) or a record of another shape."""
    try:
        return ExportedModel.model_validate(metadata.get("exported_model"))
    except ValidationError:
        return None


class PromotionOutcome(BaseModel):
    """Whether the version was promoted, on which metric, against what, and why."""

    promoted: bool
    target_stage: str = Field(description="the stage it is promoted to when it wins (promotion.stage)")
    metric: str
    candidate: float | None = None
    production: float | None = Field(None, description="the metric of the version in target_stage before, if any")
    reason: str


class ModelVersionSummary(BaseModel):
    """A model version when its training run ended: its stage, every evaluated model's metrics, the dataset versions
    it was trained on, the run, and the promotion decision with its reason."""

    model: str
    version: str
    number: int
    stage: str | None = Field(None, description="the version's stage once the run decided (None: no stage)")
    exported_stage: str = Field(description="the training stage whose model was exported (the final policy)")
    evaluated: list[EvaluatedModel] = []
    metrics: dict[str, float] = Field({}, description="what was recorded on the model version (the final's unprefixed)")
    datasets: list[TrainingDataset] = []
    promotion: PromotionOutcome
    run_name: str
    run_id: str
    export_folder: str | None = None
    hub_url: str | None = None
