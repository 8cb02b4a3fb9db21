"""Everything that can be wrong with a training run's inputs, found before a model is loaded."""

from __future__ import annotations

from typing import Any

from llm_engineering.application.export import DatasetLineage
from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.data_preparation import (
    INSTRUCTION_COLUMNS,
    PREFERENCE_COLUMNS,
    build_sft_dataset,
    check_dataset,
    check_preference_lengths,
)
from llm_engineering.application.training.peft_methods import check_target_modules
from llm_engineering.domain.config.training import BaseModelConfig, DatasetsConfig, DpoConfig, SftConfig
from llm_engineering.infrastructure.causal_lm import load_tokenizer, module_names


def check_training_inputs(
    instruction_dataset: Any, preference_dataset: Any, base_model: BaseModelConfig, sft: SftConfig, dpo: DpoConfig
) -> dict[str, int]:
    """Raises DatasetError / AdapterConfigError; returns sample counts."""
    check_dataset(instruction_dataset, INSTRUCTION_COLUMNS, "instruction_dataset")
    if dpo.enabled:
        check_dataset(preference_dataset, PREFERENCE_COLUMNS, "preference_dataset")
    check_target_modules(sft.adapter, module_names(base_model.name))
    tokenizer = apply_chat_template(load_tokenizer(base_model.name))
    trainable = build_sft_dataset(instruction_dataset["train"], tokenizer, sft.max_length, sft.assistant_only_loss)
    if dpo.enabled:
        check_preference_lengths(preference_dataset["train"], tokenizer, dpo.max_length)
    return {
        "instruction_train": len(instruction_dataset["train"]),
        "instruction_test": len(instruction_dataset["test"]),
        "instruction_train_dropped_by_truncation": len(instruction_dataset["train"]) - len(trainable),
        "preference_train": len(preference_dataset["train"]) if dpo.enabled else 0,
        "preference_test": len(preference_dataset["test"]) if dpo.enabled else 0,
    }


def dataset_lineage(step_inputs: dict[str, list[Any]], datasets: DatasetsConfig) -> dict[str, DatasetLineage]:
    """Name, version and id of each dataset artifact the step read (or its local path)."""
    lineage = {}
    for input_name, config in (
        ("instruction_dataset", datasets.instruction),
        ("preference_dataset", datasets.preference),
    ):
        artifact = (step_inputs.get(input_name) or [None])[0]
        if config.path is not None or artifact is None:
            lineage[input_name] = DatasetLineage(name=input_name, path=str(config.path))
        else:
            lineage[input_name] = DatasetLineage(
                name=artifact.artifact.name, version=str(artifact.version), artifact_id=str(artifact.id)
            )
    return lineage
