"""Run a registered ZenML pipeline from a validated config."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from llm_engineering.application.run_config import LoadedRunConfig, load_run_config
from llm_engineering.pipeline_registry import get_pipeline

logger = logging.getLogger(__name__)


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
    from llm_engineering.application.scheduling.pipeline_lock import pipeline_lock, record_run

    # One run per data dir, refused before any work (PipelineBusy names the holder).
    with pipeline_lock(), tempfile.TemporaryDirectory() as folder:
        file_abandoned_runs()
        zenml = dict(loaded.zenml)
        if "schedule" not in zenml and _runs_in_this_process():
            # Named before it starts and the name written beside the lock: if this process dies mid-run, the next
            # run knows which run it left "running" in ZenML and files it failed.
            zenml["run_name"] = run_name(pipeline_name, zenml)
            record_run(zenml["run_name"])
        if zenml:
            zenml_config = Path(folder) / "run_config.yaml"
            zenml_config.write_text(yaml.safe_dump(zenml))
            options["config_path"] = str(zenml_config)
        configured = pipeline_function.with_options(**options) if options else pipeline_function
        return configured(**pipeline_arguments(loaded.parameters))


def run_name(pipeline_name: str, zenml: dict[str, Any]) -> str:
    """The name ZenML would give the run now: the config's `run_name` template or ZenML's default, filled in."""
    from zenml.pipelines.run_utils import get_default_run_name
    from zenml.utils.string_utils import format_name_template

    template = zenml.get("run_name") or get_default_run_name(pipeline_name)
    return format_name_template(template, substitutions=dict(zenml.get("substitutions") or {}))


def _runs_in_this_process() -> bool:
    """The local orchestrator runs every step here; a remote one goes on without this process."""
    from zenml.client import Client

    return Client().active_stack.orchestrator.flavor == "local"


def file_abandoned_runs() -> None:
    """Runs that a process which died holding this data dir's lock left unfinished are filed failed, with why."""
    from llm_engineering.application.scheduling.pipeline_lock import abandoned_holders, forget_abandoned_holders
    from llm_engineering.infrastructure.zenml.abandoned_runs import abandoned_reason, fail_abandoned_runs

    for holder in abandoned_holders():
        reason = abandoned_reason(holder.pid, holder.started_at)
        for line in fail_abandoned_runs(holder.runs, reason, holder.command):
            logger.warning(line)
    forget_abandoned_holders()


def pipeline_arguments(parameters: BaseModel) -> dict[str, Any]:
    """The validated blocks the pipeline function takes: every field but those only read while validating (the
    training config's legacy `sft:` / `dpo:`, which become `stages`)."""
    return {
        name: getattr(parameters, name) for name, field in type(parameters).model_fields.items() if not field.exclude
    }
