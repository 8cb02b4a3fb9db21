"""What `llm-engineering validate` (and `run`, `schedule`, which validate first) checks beyond the pydantic models.

The pydantic models in `domain/config` check shapes and values. What needs this machine is checked here, after
them and before any work, and reported the same way (`<file>: invalid configuration`, then `  <field>: <problem>`):
- every field that loads a local model (`embedding.model`, `datasets.llm.model` for the local provider,
  `base_model.name`): a known `bundled:` name, an existing folder, or (LLMs) a Hugging Face Hub id `owner/name`,
  which must be in the local cache while HF_HUB_OFFLINE is set;
- every jury member (judge stages, preference ranking, evaluation): its rubric file parses, a reward model folder
  holds a 1-label sequence classifier, a scorer's model resolves;
- a distill stage's teacher folder or Hub id loads here, and its tokenizer is the student's (same token ids);
- every lm-eval task (`evaluation.lm_eval.tasks`) is known, and its data local (shipped, local files, or a Hub
  dataset in the cache) while HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set;
- `export.gguf`: llama.cpp's converter is unpacked in the venv, and for k-quants (q4_k_m, ...) its quantizer
  (llama-cpp-python) is importable;
- every decontamination eval set parses, read by decontamination's own reader (a bad line is named);
- a local training dataset (`datasets.instruction.path`, `datasets.preference.path`) loads, has both splits and
  columns of an accepted shape that convert (the first rows of each split; the load step converts them all);
- `steps:` names only steps of the pipeline (`pipeline_steps`: read from the pipeline's source);
- warnings, printed but not fatal: a folder source whose include globs match no file, an eval set with no items.

Why a pass here and not validators on the pydantic models: `domain` may import only the stdlib and pydantic, and these
checks need infrastructure (the model wheels, the Hugging Face cache) and the application's own readers. Keeping them
in one pass keeps `domain` free of I/O, gives each loader and its check one function to share (one parser, one model
resolver), and does not repeat the cache lookups each time ZenML rebuilds a config inside a step.
Only what the run will use is checked: a `datasets:` block with `enabled: false` is not read.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.crawling.sources import empty_folder_warning
from llm_engineering.application.decontamination import load_eval_items
from llm_engineering.application.run_config import ConfigError
from llm_engineering.domain.config.distill_stage import TeacherConfig
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters, FolderSource
from llm_engineering.domain.config.judging import JuryConfig
from llm_engineering.domain.config.rl_stages import RewardSpec
from llm_engineering.domain.config.training import TrainingParameters
from llm_engineering.infrastructure.bundled_models import BUNDLED_EMBEDDERS, BUNDLED_LLMS, model_reference_problem
from llm_engineering.infrastructure.execution import ray_problem
from llm_engineering.pipeline_registry import PIPELINES


@dataclass
class Findings:
    """Problems by dotted field: errors stop the run, warnings are printed."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def model(self, field_name: str, reference: str, bundled: dict, *, hub: bool) -> None:
        problem = model_reference_problem(reference, bundled, hub=hub)
        if problem is not None:
            self.errors.append((field_name, problem))


def check_parameters(path: Path, parameters: BaseModel) -> list[str]:
    """Raises ConfigError listing every problem; returns the warnings as `<file>: <field>: <warning>` lines."""
    findings = Findings()
    check = CHECKS.get(type(parameters))
    if check is not None:
        check(parameters, findings)
    if findings.errors:
        lines = "\n".join(f"  {name}: {problem}" for name, problem in findings.errors)
        raise ConfigError(f"{path}: invalid configuration\n{lines}")
    return [f"{path}: {name}: {warning}" for name, warning in findings.warnings]


def check_feature_engineering(parameters: FeatureEngineeringParameters, findings: Findings) -> None:
    findings.model("parameters.embedding.model", parameters.embedding.model, BUNDLED_EMBEDDERS, hub=False)
    engine_problem = ray_problem(parameters.execution)  # engine: ray needs the package and a cluster that answers
    if engine_problem is not None:
        findings.errors.append((f"parameters.execution.{engine_problem[0]}", engine_problem[1]))
    for index, source in enumerate(parameters.crawl.sources):
        warning = empty_folder_warning(source) if isinstance(source, FolderSource) else None
        if warning is not None:
            findings.warnings.append((f"parameters.crawl.sources.{index}", warning))
    datasets = parameters.datasets
    if not datasets.enabled:
        return
    if datasets.llm.provider == "local":  # an openai model is whatever the server serves
        findings.model("parameters.datasets.llm.model", datasets.llm.model, BUNDLED_LLMS, hub=True)
    for index, stage in enumerate(datasets.curation.stages):
        if stage.kind == "judge":
            check_jury(f"parameters.datasets.curation.stages.{index}.jury", stage.jury, findings)
        elif stage.kind == "evol_instruct" and stage.llm is not None and stage.llm.provider == "local":
            name = f"parameters.datasets.curation.stages.{index}.llm.model"
            findings.model(name, stage.llm.model, BUNDLED_LLMS, hub=True)
    ranking = datasets.preferences.ranking_jury()
    if ranking is not None:
        name = "reward_model" if datasets.preferences.strategy == "reward_ranked" else "jury"
        check_jury(f"parameters.datasets.preferences.{name}", ranking, findings, single=name == "reward_model")
    for stage, decontamination in datasets.decontamination_stages():
        for index, eval_set in enumerate(decontamination.eval_sets):
            name = f"parameters.datasets.{stage}.eval_sets.{index}"
            try:
                items = load_eval_items(eval_set)
            except (ValueError, OSError) as exc:
                findings.errors.append((name, str(exc)))
                continue
            if not items:
                findings.warnings.append((name, f"eval set {eval_set.name!r} ({eval_set.path}) has no items"))


def check_jury(prefix: str, jury: JuryConfig, findings: Findings, single: bool = False) -> None:
    """Each member's rubric, reward model folder or scorer model; reads files, loads no weights.
    `single`: the jury stands for one field (`preferences.reward_model`), so errors name that field."""
    from llm_engineering.application.judging.rubrics import RubricError, load_rubric
    from llm_engineering.infrastructure.reward_scorer import RewardModelError, check_reward_model_folder

    for index, member in enumerate(jury.members):
        name = prefix if single else f"{prefix}.members.{index}"
        if member.kind == "llm":
            for key, pairwise in (("rubric", False), ("pairwise_rubric", True)):
                reference = getattr(member, key)
                try:
                    rubric = load_rubric(reference) if reference is not None else None
                except RubricError as exc:
                    findings.errors.append((f"{name}.{key}", str(exc)))
                    continue
                if rubric is not None and rubric.pairwise != pairwise:
                    does = "compares two answers" if rubric.pairwise else "scores a single answer"
                    wanted = "format: winner_line (e.g. pairwise)" if pairwise else "one answer (e.g. accuracy_style)"
                    findings.errors.append((f"{name}.{key}", f"rubric {reference!r} {does}; {key} needs {wanted}"))
            if member.llm.provider == "local":
                findings.model(f"{name}.llm.model", member.llm.model, BUNDLED_LLMS, hub=True)
        elif member.kind == "reward_model":
            try:
                check_reward_model_folder(member.folder)
            except RewardModelError as exc:
                findings.errors.append((name if single else f"{name}.folder", str(exc)))
        elif member.kind == "embedding_relevance":
            findings.model(f"{name}.model", member.model, BUNDLED_EMBEDDERS, hub=False)
        else:
            findings.model(f"{name}.model", member.model, BUNDLED_LLMS, hub=True)


def check_training(parameters: TrainingParameters, findings: Findings) -> None:
    findings.model("parameters.base_model.name", parameters.base_model.name, BUNDLED_LLMS, hub=True)
    check_local_datasets(parameters, findings)
    jury = parameters.evaluation.judge.jury
    if jury is not None:
        check_jury("parameters.evaluation.judge.jury", jury, findings)
    if parameters.evaluation.enabled and parameters.evaluation.lm_eval.enabled:
        from llm_engineering.application.evaluation.lm_eval_harness import task_problems

        for index, problem in task_problems(parameters.evaluation.lm_eval):  # reads task YAMLs and cache folders
            findings.errors.append((f"parameters.evaluation.lm_eval.tasks.{index}", problem))
    from llm_engineering.application.training.reward_functions import RewardFunctionError, check_reward_specs

    for index, stage in enumerate(parameters.stages):
        if stage.kind in ("grpo", "rloo"):
            try:  # imports a dotted path's module; loads no model and calls no endpoint
                check_reward_specs(stage.rewards)
            except RewardFunctionError as exc:
                findings.errors.append((f"parameters.stages.{index}", str(exc)))
            for number, spec in enumerate(stage.rewards):
                if spec.name == "llm_judge":
                    _check_rubric(f"parameters.stages.{index}.rewards.{number}.params.rubric", spec, findings)
        if stage.kind == "distill":
            check_distill_teacher(f"parameters.stages.{index}.teacher", stage.teacher, parameters, findings)
    check_gguf_export(parameters, findings)


def check_gguf_export(parameters: TrainingParameters, findings: Findings) -> None:
    """export.gguf: llama.cpp's converter is unpacked here, and its quantizer importable for the k-quants."""
    gguf = parameters.export.gguf
    if not gguf.enabled:
        return
    from llm_engineering.infrastructure.gguf_converter import converter_problem
    from llm_engineering.infrastructure.gguf_quantizer import quantizer_problem

    problem = converter_problem()
    if problem is not None:
        findings.errors.append(("parameters.export.gguf.enabled", problem))
    quantizer = quantizer_problem()
    for index, quantization in gguf.needs_quantizer():
        if quantizer is not None:
            findings.errors.append(
                (
                    f"parameters.export.gguf.quantizations.{index}",
                    f"{quantization} is written by llama.cpp's quantizer, but {quantizer}; or list only f32, f16, "
                    "bf16, q8_0 (written by the converter)",
                )
            )


def _check_rubric(field_name: str, spec: RewardSpec, findings: Findings) -> None:
    from llm_engineering.application.judging.rubrics import RubricError, load_rubric

    try:
        load_rubric(spec.parsed_params().rubric)
    except RubricError as exc:
        findings.errors.append((field_name, str(exc)))
    except ValueError:
        pass  # bad params: check_reward_specs has named them


LOCAL_DATASET_ROWS_CHECKED = 1_000


def check_local_datasets(parameters: TrainingParameters, findings: Findings) -> None:
    """Each local dataset folder, read and converted as the load step will (its first rows), so that a shape we
    cannot train on is refused here, listing the accepted ones, instead of a minute into the run."""
    from llm_engineering.application.training.data_preparation import DatasetError
    from llm_engineering.application.training.local_datasets import read_local_dataset, to_training_columns

    for kind in ("instruction", "preference"):
        source = getattr(parameters.datasets, kind)
        if source is None or source.path is None:
            continue
        try:
            to_training_columns(read_local_dataset(source.path), kind, str(source.path), LOCAL_DATASET_ROWS_CHECKED)
        except DatasetError as exc:
            findings.errors.append((f"parameters.datasets.{kind}.path", str(exc)))


def check_distill_teacher(
    field_name: str, teacher: TeacherConfig, parameters: TrainingParameters, findings: Findings
) -> None:
    """A folder or Hub teacher loads here and shares the student's tokenizer (its vocabulary: token -> id). A teacher
    that is an earlier stage is trained from the same base model; the stage compares the tokenizers when it starts."""
    if teacher.stage is not None:
        return
    if teacher.path is not None:
        reference, field_name, problem = str(teacher.path), field_name + ".path", None
        if not teacher.path.is_dir():
            problem = f"teacher folder not found: {teacher.path} (an earlier stage of this list goes in teacher.stage)"
    else:
        reference, field_name = str(teacher.hub_id), field_name + ".hub_id"
        problem = model_reference_problem(reference, {}, hub=True)
    if problem is None and not any(name == "parameters.base_model.name" for name, _ in findings.errors):
        from llm_engineering.application.training.distill import teacher_tokenizer_problem

        problem = teacher_tokenizer_problem(reference, parameters.base_model.name)
    if problem is not None:
        findings.errors.append((field_name, problem))


CHECKS: dict[type[BaseModel], Callable] = {
    FeatureEngineeringParameters: check_feature_engineering,
    TrainingParameters: check_training,
}


# ---------------------------------------------------------------- the pipeline's step names


@dataclass(frozen=True)
class PipelineSteps:
    pipeline: str
    names: list[str]  # invocation ids; `*` stands for a part of an id the source does not spell out

    def knows(self, name: str) -> bool:
        from fnmatch import fnmatchcase

        return any(fnmatchcase(name, known) for known in self.names)


def pipeline_steps(parameters_model: type[BaseModel], parameters: BaseModel | None = None) -> PipelineSteps | None:
    """The step invocation ids of the pipeline that takes `parameters_model` (the keys `steps:` may use), read from
    the pipeline module's source, so validation imports neither ZenML steps nor torch; None for other models.
    Ids the source builds from the config (the training stages' `train_<name>`) come from `parameters.step_ids()`
    when the parameters have it, instead of a pattern."""
    target = f"{parameters_model.__module__}:{parameters_model.__qualname__}"
    for name, entry in PIPELINES.items():
        if entry.parameters == target:
            module = entry.function.partition(":")[0]
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                return None
            ids = invocation_ids(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
            configured = getattr(parameters, "step_ids", None)
            if configured is not None:
                ids = sorted({*(i for i in ids if "*" not in i), *configured()})
            return PipelineSteps(name, ids)
    return None


def invocation_ids(module: ast.Module) -> list[str]:
    """Every call of a function imported from `steps.*` in the module's functions (the pipeline and its helpers), as
    ZenML names it: the `id=` argument, else the step's name, suffixed `_2`, `_3`, ... when called again."""
    steps = {
        alias.asname or alias.name: alias.name
        for node in module.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "steps"
        for alias in node.names
    }
    functions = [node for node in module.body if isinstance(node, ast.FunctionDef)]
    ids: list[str] = []
    calls: Counter[str] = Counter()
    for function in functions:
        for call in ast.walk(function):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in steps:
                explicit = next((keyword.value for keyword in call.keywords if keyword.arg == "id"), None)
                if explicit is None:
                    base = steps[call.func.id]
                    calls[base] += 1
                    ids.append(base if calls[base] == 1 else f"{base}_{calls[base]}")
                else:
                    ids.extend(_spelled_ids(explicit, function, module))
    return sorted(set(ids))


def _spelled_ids(value: ast.expr, function: ast.FunctionDef, module: ast.Module) -> list[str]:
    """A literal id, or an f-string over the helper's parameters filled in from each call of the helper."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if not isinstance(value, ast.JoinedStr):
        return ["*"]
    parameters = [argument.arg for argument in function.args.args]
    calls = [
        node
        for node in ast.walk(module)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function.name
    ]

    def text(part: ast.expr, call: ast.Call | None) -> str:
        if isinstance(part, ast.Constant):
            return str(part.value)
        if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and call is not None:
            argument = _argument(call, parameters, part.value.id)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                return argument.value
        return "*"

    return sorted({"".join(text(part, call) for part in value.values) for call in calls or [None]})


def _argument(call: ast.Call, parameters: list[str], name: str) -> ast.expr | None:
    if name not in parameters:
        return None
    index = parameters.index(name)
    if index < len(call.args):
        return call.args[index]
    return next((keyword.value for keyword in call.keywords if keyword.arg == name), None)
