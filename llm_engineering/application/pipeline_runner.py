"""Run a registered ZenML pipeline from a validated config."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from llm_engineering.application.run_config import LoadedRunConfig, load_run_config
from llm_engineering.pipeline_registry import get_pipeline


def load_for(pipeline_name: str, config_path: Path, overrides: list[str] | None = None) -> LoadedRunConfig:
    entry = get_pipeline(pipeline_name)
    return load_run_config(config_path, entry.load_parameters_model(), overrides)


PROJECT_ROOT = Path(__file__).resolve().parents[2]  # holds llm_engineering/, pipelines/, steps/


def run_pipeline(
    pipeline_name: str, loaded: LoadedRunConfig, *, no_cache: bool = False, tags: list[str] | None = None
) -> Any:
    """Returns the ZenML pipeline run response. `tags` are added to the run's (the config's `tags:` are kept)."""
    from zenml.utils import source_utils

    # ZenML records each artifact's type by import path relative to a "source root", by default the folder
    # of the main module: `python -m llm_engineering.cli` would record `domain.documents.RawDocuments`,
    # which no later run could import. One fixed root keeps every run's records loadable by every other.
    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    pipeline_function = get_pipeline(pipeline_name).load_function()
    options: dict[str, Any] = {}
    if no_cache:
        options["enable_cache"] = False
    if tags:
        options["tags"] = tags
    from llm_engineering.application.scheduling.pipeline_lock import pipeline_lock

    # One run per data dir, refused before any work (PipelineBusy names the holder).
    with pipeline_lock(), tempfile.TemporaryDirectory() as folder:
        if loaded.zenml:
            zenml_config = Path(folder) / "run_config.yaml"
            zenml_config.write_text(yaml.safe_dump(loaded.zenml))
            options["config_path"] = str(zenml_config)
        configured = pipeline_function.with_options(**options) if options else pipeline_function
        return configured(**pipeline_arguments(loaded.parameters))


def pipeline_arguments(parameters: BaseModel) -> dict[str, Any]:
    """The validated blocks the pipeline function takes: every field but those only read while validating (the
    training config's legacy `sft:` / `dpo:`, which become `stages`)."""
    return {
        name: getattr(parameters, name) for name, field in type(parameters).model_fields.items() if not field.exclude
    }
