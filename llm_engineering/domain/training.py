"""What training stages leave behind, as typed artifacts (no dicts read back by string key)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class StageResult(BaseModel):
    """What a training stage leaves behind: the model folder, its metrics and the trainer's log history."""

    model_dir: Path
    metrics: dict[str, float]
    log_history: list[dict[str, float]]
    resumed_from: str | None = None


class TrainedStage(BaseModel):
    """One stage of a training run as the pipeline passes it on: which stage, what it started from, its model
    folder and what the trainer measured. Evaluation, the loss curves, the model card and promotion read these."""

    name: str
    kind: str
    started_from: str = "base"  # a stage name, or "base"
    policy: bool = True  # a causal LM (what evaluation compares); a reward model is not
    method: str = ""  # the PEFT method (lora, full, ...)
    is_adapter: bool = False
    result: StageResult

    @property
    def model_dir(self) -> Path:
        return self.result.model_dir
