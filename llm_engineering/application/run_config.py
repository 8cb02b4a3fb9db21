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


class OverrideError(ConfigError):
    """A `--set` that cannot be applied to the document: it names the override, the node and what to write instead."""


def parse_override(override: str) -> tuple[str, Any]:
    if "=" not in override:
        raise OverrideError(f"--set {override!r}: expected dotted.key=value, e.g. --set chunking.chunk_size=256")
    key, raw = override.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    key = key.strip()
    if not key or "" in key.split("."):
        raise OverrideError(
            f"--set {override!r}: empty key segment; write dotted.key=value, e.g. chunking.chunk_size=256"
        )
    return key, value


def apply_override(document: dict[str, Any], key: str, value: Any, *, relative_to: str | None = "parameters") -> None:
    """Dotted keys are relative to `parameters:` unless they start with a ZenML top-level key; with
    `relative_to=None` (a schedule config, which has no `parameters:`) relative to the top level. A number indexes
    a list; a missing mapping key is created. Raises OverrideError for a key through a single value, or a list index
    that is not a number or is out of range."""
    if relative_to and not key.startswith((*ZENML_KEYS_OUTSIDE_PARAMETERS, f"{relative_to}.")):
        key = f"{relative_to}.{key}"
    parts = key.split(".")
    node: Any = document
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if isinstance(node, list):
            index = _list_index(node, part, where)
        elif isinstance(node, dict):
            index = part
        else:
            shown = repr(node) if len(repr(node)) <= 40 else repr(node)[:37] + "..."
            raise OverrideError(
                f"{where} is a single value ({shown}), not a mapping, so it has no key {part!r}; "
                f"set {where}=<value> instead"
            )
        if depth == len(parts) - 1:
            node[index] = value
        else:
            if isinstance(node, dict) and node.get(index) is None:  # absent, or empty in the YAML (`key:`)
                node[index] = {}
            node = node[index]


def _list_index(node: list[Any], part: str, where: str) -> int:
    size = f"{len(node)} entry" if len(node) == 1 else f"{len(node)} entries"
    span = f"use a number from 0 to {len(node) - 1}" if node else "set the whole list instead, e.g. " + where + "=[...]"
    try:
        index = int(part)
    except ValueError:
        raise OverrideError(f"{where} is a list ({size}), indexed by number, not {part!r}; {span}") from None
    if not 0 <= index < len(node):
        raise OverrideError(f"{where} has {size}; index {index} is out of range, {span}")
    return index


def apply_overrides(
    path: Path, document: dict[str, Any], overrides: list[str], *, relative_to: str | None = "parameters"
) -> None:
    """Every `--set dotted.key=value` on the document read from `path`, in order: the one parsing `run`, `validate`
    and a schedule's `overrides:` share."""
    for override in overrides:
        try:
            apply_override(document, *parse_override(override), relative_to=relative_to)
        except OverrideError as exc:
            message = str(exc) if str(exc).startswith("--set ") else f"--set {override!r}: {exc}"
            raise OverrideError(f"{path}: {message}") from None


def format_validation_error(path: Path, prefix: str, error: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for item in error.errors():
        field = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path`; ConfigError, in one line, for a missing or unreadable file, one that is not text
    or not YAML, or whose top level is not a mapping."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a configuration file; pass a YAML file such as {path}/<name>.yaml")
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found; check the path (the shipped configs are in configs/)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); pass a YAML configuration file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror or exc}); check its permissions") from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of `key: value` lines, not a {type(document).__name__}"
        )
    return document


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as one line: where, what, and (when it differs) where the construct began."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return f"not valid YAML: {' '.join(str(error).split())}; fix the syntax"
    context = getattr(error, "context", None)
    started = getattr(error, "context_mark", None)
    began = f" ({context} at line {started.line + 1})" if context and started and started.line != mark.line else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}{began}; fix the syntax there"


def load_run_config(
    path: Path, parameters_model: type[BaseModel], overrides: list[str] | None = None
) -> LoadedRunConfig:
    document = copy.deepcopy(read_yaml(path))
    apply_overrides(path, document, overrides or [])
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
