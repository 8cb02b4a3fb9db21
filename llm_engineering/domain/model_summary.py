"""What a training run made of its model version, as one artifact: the open-source ZenML dashboard shows artifacts,
not the Model Control Plane (its Models page is a ZenML Pro feature), and `llm-engineering lineage model:<name>`
prints the same record."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
