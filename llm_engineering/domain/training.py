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
