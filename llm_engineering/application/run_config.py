"""Load a pipeline's YAML (ZenML run-config format), apply `--set` overrides and validate it.

`parameters:` is validated by the pipeline's pydantic model; the rest (`steps:`, `settings:`,
`enable_cache:`, ...) by ZenML's own `PipelineRunConfiguration`, and `steps:` keys against the pipeline's
step names; then what needs this machine (model files, eval sets, source folders: `config_checks`). Any of
them failing raises `ConfigError` naming the file and the dotted field, before any work starts.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from llm_engineering.application.config_checks import PipelineSteps

ZENML_KEYS_OUTSIDE_PARAMETERS = ("steps.", "settings.", "model.", "schedule.", "enable_cache", "run_name")


class ConfigError(ValueError):
    """A configuration problem, already phrased for the user: file, field, what is wrong."""


class LoadedRunConfig(BaseModel):
    path: Path
    parameters: BaseModel
    zenml: dict[str, Any]
    warnings: list[str] = []  # `<file>: <field>: <warning>`, printed by `validate`; nothing stops on them


def parse_override(override: str) -> tuple[str, Any]:
    if "=" not in override:
        raise ConfigError(f"--set {override!r}: expected dotted.key=value")
    key, raw = override.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_override(document: dict[str, Any], key: str, value: Any) -> None:
    """Dotted keys are relative to `parameters:` unless they start with a ZenML top-level key."""
    if not key.startswith(ZENML_KEYS_OUTSIDE_PARAMETERS) and not key.startswith("parameters."):
        key = f"parameters.{key}"
    parts = key.split(".")
    node: Any = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        node = node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def format_validation_error(path: Path, prefix: str, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        field = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return document


def load_run_config(
    path: Path, parameters_model: type[BaseModel], overrides: list[str] | None = None
) -> LoadedRunConfig:
    document = copy.deepcopy(read_yaml(path))
    for override in overrides or []:
        apply_override(document, *parse_override(override))
    raw_parameters = document.pop("parameters", None) or {}
    try:
        parameters = parameters_model.model_validate(raw_parameters)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, "parameters", exc)) from exc
    # Imported here: config_checks imports ConfigError from this module.
    from llm_engineering.application.config_checks import check_parameters, pipeline_steps

    _validate_zenml_part(path, document, pipeline_steps(parameters_model, parameters))
    warnings = check_parameters(path, parameters)  # the slow checks (files, caches) last
    return LoadedRunConfig(path=path, parameters=parameters, zenml=document, warnings=warnings)


def _validate_zenml_part(path: Path, document: dict[str, Any], steps: PipelineSteps | None = None) -> None:
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    # ZenML ignores unknown top-level keys; a typo there must fail like one in `parameters:`.
    unknown = sorted(set(document) - set(PipelineRunConfiguration.model_fields))
    if unknown:
        fields = "\n".join(f"  {key}: Extra inputs are not permitted" for key in unknown)
        raise ConfigError(f"{path}: invalid configuration\n{fields}")
    try:
        PipelineRunConfiguration.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, "", exc)) from exc
    # ZenML only logs a warning for a step name no invocation has, and drops its settings (a GPU, a step operator).
    unknown = [name for name in document.get("steps") or {} if steps is not None and not steps.knows(name)]
    if unknown:
        fields = "\n".join(
            f"  steps.{name}: not a step of the {steps.pipeline} pipeline; its steps: {', '.join(steps.names)}"
            for name in unknown
        )
        raise ConfigError(f"{path}: invalid configuration\n{fields}")
