"""`configs/schedule.yaml`: when to check the feature pipeline's sources, and what to run when they changed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel


class ScheduleTiming(StrictModel):
    """Exactly one of a cron expression (local time) or a fixed interval."""

    cron: str | None = Field(None, description='five-field cron expression, e.g. "*/15 * * * *"')
    interval_seconds: float | None = Field(None, gt=0)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str | None) -> str | None:
        if cron is not None and not croniter.is_valid(cron):
            raise ValueError(f"not a valid cron expression: {cron!r} (expected five fields, e.g. '*/15 * * * *')")
        return cron

    @model_validator(mode="after")
    def _exactly_one(self) -> ScheduleTiming:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("set exactly one of `cron` or `interval_seconds`")
        return self

    def describe(self) -> str:
        return f"cron {self.cron!r}" if self.cron else f"every {self.interval_seconds:g} s"


class FeaturePipelineReference(StrictModel):
    config: Path = Path("configs/feature_engineering.yaml")
    overrides: list[str] = Field([], description="`--set`-style dotted.key=value overrides")


class TrainingPipelineReference(StrictModel):
    config: Path = Path("configs/training.yaml")
    overrides: list[str] = []
    run_after_feature: bool = Field(True, description="train after each feature run that the scheduler starts")


class ScheduleConfig(StrictModel):
    schedule: ScheduleTiming
    feature_pipeline: FeaturePipelineReference = FeaturePipelineReference()
    training_pipeline: TrainingPipelineReference | None = None
    watch: Literal["all"] | list[str] = Field("all", description="'all' or names of sources in the feature config")
    lock_timeout_seconds: float = Field(
        0, ge=0, description="how long a tick waits for another trigger's run; after that it skips the tick"
    )
