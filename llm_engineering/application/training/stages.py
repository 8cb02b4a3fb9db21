"""The training stages as one registry: a stage kind -> the function that trains it. A new method is one config
model (domain/config/training.py's union), one module, and one entry here; the pipeline, evaluation, the loss
curves and the model card iterate over the stages that ran."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_engineering.application.training.backends import Backend
from llm_engineering.domain.config.training import POLICY_KINDS, BaseModelConfig
from llm_engineering.domain.training import StageResult, TrainedStage
from llm_engineering.infrastructure.causal_lm import read_training_info


@dataclass
class StageInputs:
    """What any stage may read; each runner takes what it needs."""

    instruction_dataset: Any
    preference_dataset: Any | None
    base_model: BaseModelConfig
    backend: Backend
    device: str
    max_train_samples: int | None
    report_to: list[str] = field(default_factory=list)
    reward_model: TrainedStage | None = None  # the latest reward_model stage before this one, if any
    teacher: TrainedStage | None = None  # a distill stage's teacher, when it is an earlier stage (teacher.stage)


class StageInputError(ValueError):
    """A stage was given what it cannot train on (no preference dataset, no model to start from)."""


Runner = Callable[[Any, TrainedStage | None, StageInputs, Path], StageResult]


def _sft(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.sft import train_sft

    if start is not None:
        raise StageInputError(f"stage {stage.name!r}: sft starts from the base model (start_from: base)")
    return train_sft(
        inputs.instruction_dataset, inputs.base_model, stage, output_dir, max_train_samples=inputs.max_train_samples,
        backend=inputs.backend, device=inputs.device, report_to=inputs.report_to,
    )  # fmt: skip


def _alignment(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.dpo import train_dpo

    return train_dpo(
        _required_start(stage, start).model_dir, _preferences(stage, inputs), inputs.base_model, stage, output_dir,
        max_train_samples=inputs.max_train_samples, device=inputs.device, report_to=inputs.report_to,
    )  # fmt: skip


def _reward_model(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.reward_model import train_reward_model

    return train_reward_model(
        str(start.model_dir) if start is not None else inputs.base_model.name, _preferences(stage, inputs),
        inputs.base_model, stage, output_dir, max_train_samples=inputs.max_train_samples, device=inputs.device,
        report_to=inputs.report_to,
    )  # fmt: skip


def _online_rl(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.online_rl import train_online_rl

    # The `reward_model` reward scores with the latest reward_model stage trained before this one.
    reward_model = inputs.reward_model
    context = {"reward_model_dir": str(reward_model.model_dir)} if reward_model is not None else {}
    return train_online_rl(
        _required_start(stage, start).model_dir, inputs.instruction_dataset, inputs.base_model, stage, output_dir,
        max_train_samples=inputs.max_train_samples, device=inputs.device, report_to=inputs.report_to,
        reward_context=context,
    )  # fmt: skip


def _distill(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.distill import teacher_reference, train_distill

    # The student is the start's model (None: a new adapter on the base model); the teacher a folder or Hub id.
    return train_distill(
        start.model_dir if start is not None else None, teacher_reference(stage.teacher, inputs.teacher),
        inputs.instruction_dataset, inputs.base_model, stage, output_dir, max_train_samples=inputs.max_train_samples,
        device=inputs.device, report_to=inputs.report_to,
    )  # fmt: skip


RUNNERS: dict[str, Runner] = {
    "sft": _sft,
    "dpo": _alignment,
    "kto": _alignment,
    "orpo": _alignment,
    "reward_model": _reward_model,
    "grpo": _online_rl,
    "rloo": _online_rl,
    "distill": _distill,
}


def _required_start(stage: Any, start: TrainedStage | None) -> TrainedStage:
    if start is None:
        raise StageInputError(f"stage {stage.name!r} ({stage.kind}) needs a trained model to start from")
    return start


def _preferences(stage: Any, inputs: StageInputs) -> Any:
    if inputs.preference_dataset is None:
        raise StageInputError(
            f"stage {stage.name!r} ({stage.kind}) trains on preference pairs, but no preference dataset was given "
            "(datasets.preference)"
        )
    return inputs.preference_dataset


def run_stage(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> TrainedStage:
    result = RUNNERS[stage.kind](stage, start, inputs, output_dir)
    info = read_training_info(result.model_dir)
    return TrainedStage(
        name=stage.name,
        kind=stage.kind,
        started_from=start.name if start is not None else "base",
        policy=stage.kind in POLICY_KINDS,
        method=info.method,
        is_adapter=info.is_adapter,
        result=result,
    )
