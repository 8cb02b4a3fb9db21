"""Everything that can be wrong with a training run's inputs, found before a model is loaded."""

from __future__ import annotations

from typing import Any

from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.data_preparation import (
    INSTRUCTION_COLUMNS,
    PREFERENCE_COLUMNS,
    build_sft_dataset,
    check_dataset,
    check_preference_lengths,
)
from llm_engineering.application.training.peft_methods import check_target_modules
from llm_engineering.application.training.stages import StageInputError
from llm_engineering.domain.config.training import PREFERENCE_KINDS, BaseModelConfig, DatasetsConfig, StagePlan
from llm_engineering.domain.model_summary import TrainingDataset, TrainingDatasets
from llm_engineering.infrastructure.causal_lm import load_tokenizer, module_names


def check_training_inputs(
    instruction_dataset: Any, preference_dataset: Any | None, base_model: BaseModelConfig, plan: StagePlan
) -> dict[str, int]:
    """Raises DatasetError / AdapterConfigError / StageInputError for any stage; returns sample counts."""
    check_dataset(instruction_dataset, INSTRUCTION_COLUMNS, "instruction_dataset")
    needs_pairs = [stage.name for stage in plan.stages if stage.kind in PREFERENCE_KINDS]
    if needs_pairs and preference_dataset is None:
        raise StageInputError(f"stages {needs_pairs} train on preference pairs, but datasets.preference is not set")
    if needs_pairs:
        check_dataset(preference_dataset, PREFERENCE_COLUMNS, "preference_dataset")
    tokenizer = apply_chat_template(load_tokenizer(base_model.name))
    modules = module_names(base_model.name)
    counts = {
        "instruction_train": len(instruction_dataset["train"]),
        "instruction_test": len(instruction_dataset["test"]),
        "preference_train": len(preference_dataset["train"]) if needs_pairs else 0,
        "preference_test": len(preference_dataset["test"]) if needs_pairs else 0,
    }
    for stage in plan.stages:
        if getattr(stage, "adapter", None) is not None:
            check_target_modules(stage.adapter, modules)
        if stage.kind == "sft":
            trainable = build_sft_dataset(
                instruction_dataset["train"], tokenizer, stage.max_length, stage.assistant_only_loss
            )
            counts[f"{stage.name}_train_dropped_by_truncation"] = len(instruction_dataset["train"]) - len(trainable)
        elif stage.kind in ("dpo", "kto", "orpo"):
            check_preference_lengths(preference_dataset["train"], tokenizer, stage.max_length)
    return counts


def dataset_lineage(step_inputs: dict[str, list[Any]], datasets: DatasetsConfig) -> TrainingDatasets:
    """Name, version and id of each dataset artifact the step read (or its local path)."""
    lineage: dict[str, TrainingDataset] = {}
    for input_name, config in (
        ("instruction_dataset", datasets.instruction),
        ("preference_dataset", datasets.preference),
    ):
        if config is None:
            continue
        artifact = (step_inputs.get(input_name) or [None])[0]
        if config.path is not None or artifact is None:
            lineage[input_name] = TrainingDataset(name=input_name, path=str(config.path))
        else:
            lineage[input_name] = TrainingDataset(
                name=artifact.artifact.name, version=str(artifact.version), artifact_id=str(artifact.id)
            )
    return TrainingDatasets(datasets=lineage)
