"""Load `configs/schedule.yaml` and everything it points at, so every mistake shows before the trigger starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from llm_engineering.application.pipeline_runner import load_for
from llm_engineering.application.run_config import (
    ConfigError,
    LoadedRunConfig,
    apply_overrides,
    format_validation_error,
    read_yaml,
)
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters, Source
from llm_engineering.domain.config.schedule import ScheduleConfig


class LoadedSchedule(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    config: ScheduleConfig
    feature: LoadedRunConfig
    training: LoadedRunConfig | None = None

    @property
    def feature_parameters(self) -> FeatureEngineeringParameters:
        return self.feature.parameters  # type: ignore[return-value] - load_for validated it as this model

    @property
    def watched_sources(self) -> list[Source]:
        sources = self.feature_parameters.crawl.sources
        if self.config.watch == "all":
            return list(sources)
        return [source for source in sources if source.name in self.config.watch]


def load_schedule(path: Path, overrides: list[str] | None = None) -> LoadedSchedule:
    """Raises ConfigError naming the file and field: bad cron, both/neither timing, unknown watched source, ...
    `overrides` are `--set`-style, relative to the schedule file's top level (`schedule.cron=...`)."""
    document = read_yaml(path)
    apply_overrides(path, document, overrides or [], relative_to=None)
    try:
        config = ScheduleConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, "", exc)) from exc
    feature = load_for("feature_engineering", config.feature_pipeline.config, config.feature_pipeline.overrides)
    names = [source.name for source in feature.parameters.crawl.sources]
    if config.watch != "all":
        unknown = sorted(set(config.watch) - set(names))
        if unknown:
            raise ConfigError(
                f"{path}: invalid configuration\n  watch: unknown source(s) {unknown}; "
                f"{config.feature_pipeline.config} defines {names}"
            )
    training = None
    if config.training_pipeline is not None:
        training = load_for("training", config.training_pipeline.config, config.training_pipeline.overrides)
    return LoadedSchedule(path=path, config=config, feature=feature, training=training)
