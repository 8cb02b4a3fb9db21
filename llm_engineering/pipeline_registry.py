"""Pipeline names the CLI accepts, their `@pipeline` function and their parameters model.

Both are imported lazily: validating a config must not import ZenML steps or torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydantic import BaseModel

from llm_engineering.application.run_config import ConfigError


@dataclass(frozen=True)
class PipelineEntry:
    function: str  # "module:attribute"
    parameters: str
    summary: str  # one line, for `llm-engineering run --help`

    def load_function(self):  # noqa: ANN201 - a ZenML Pipeline
        return _load(self.function)

    def load_parameters_model(self) -> type[BaseModel]:
        return _load(self.parameters)


def _load(target: str):  # noqa: ANN202
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


PIPELINES: dict[str, PipelineEntry] = {
    "feature_engineering": PipelineEntry(
        "pipelines.feature_engineering:feature_engineering",
        "llm_engineering.domain.config.feature_engineering:FeatureEngineeringParameters",
        "crawl, clean, chunk, embed into Qdrant; curate datasets",
    ),
    "training": PipelineEntry(
        "pipelines.training:training",
        "llm_engineering.domain.config.training:TrainingParameters",
        "fine-tune on them (SFT, DPO, ...); evaluate, register",
    ),
}


class UnknownPipeline(ConfigError):
    """A pipeline name the CLI does not know; the message lists the ones it does."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        names = ", ".join(sorted(known or PIPELINES))
        super().__init__(f"unknown pipeline {name!r}; choose one of: {names}")


def get_pipeline(name: str) -> PipelineEntry:
    if name not in PIPELINES:
        raise UnknownPipeline(name)
    return PIPELINES[name]


def guess_pipeline(config_name: str) -> str | None:
    """configs/<pipeline>[-variant].yaml -> <pipeline>."""
    stem = config_name.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
    base = stem.split("-", 1)[0]
    return base if base in PIPELINES else None
