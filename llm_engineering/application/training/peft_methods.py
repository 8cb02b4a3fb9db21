"""The `sft.adapter.method` names -> PEFT configs; target modules checked against the model first."""

from __future__ import annotations

from typing import Any

from llm_engineering.domain.config.training import MERGEABLE_METHODS, AdapterConfig


class AdapterConfigError(ValueError):
    """The adapter does not fit the model (e.g. target modules it lacks)."""


def check_target_modules(adapter: AdapterConfig, available: set[str]) -> None:
    # The module-injecting methods are exactly the mergeable ones; prompt learning and full have no target modules.
    if adapter.method not in MERGEABLE_METHODS or adapter.target_modules == "all-linear":
        return
    missing = [name for name in adapter.target_modules if name not in available]
    if missing:
        raise AdapterConfigError(
            f"sft.adapter.target_modules: the model has no module(s) {missing}; it has {sorted(available)}"
        )
    if adapter.method == "ia3":
        stray = [name for name in adapter.feedforward_modules if name not in adapter.target_modules]
        if stray:
            raise AdapterConfigError(f"sft.adapter.feedforward_modules {stray} must also be in target_modules")


def build_peft_config(adapter: AdapterConfig) -> Any | None:
    """None for full fine-tuning."""
    import peft

    task = peft.TaskType.CAUSAL_LM
    match adapter.method:
        case "full":
            return None
        case "lora" | "qlora" | "dora":
            return peft.LoraConfig(
                task_type=task,
                r=adapter.r,
                lora_alpha=adapter.alpha,
                lora_dropout=adapter.dropout,
                target_modules=adapter.target_modules,
                use_dora=adapter.method == "dora",
            )
        case "ia3":
            return peft.IA3Config(
                task_type=task, target_modules=adapter.target_modules, feedforward_modules=adapter.feedforward_modules
            )
        case "prefix_tuning":
            return peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=adapter.num_virtual_tokens)
        case "prompt_tuning":
            if adapter.prompt_tuning_init_text:
                return peft.PromptTuningConfig(
                    task_type=task,
                    num_virtual_tokens=adapter.num_virtual_tokens,
                    prompt_tuning_init=peft.PromptTuningInit.TEXT,
                    prompt_tuning_init_text=adapter.prompt_tuning_init_text,
                )
            return peft.PromptTuningConfig(task_type=task, num_virtual_tokens=adapter.num_virtual_tokens)
        case "p_tuning":
            return peft.PromptEncoderConfig(
                task_type=task, num_virtual_tokens=adapter.num_virtual_tokens, encoder_hidden_size=64
            )
    raise AdapterConfigError(f"unknown adapter method {adapter.method!r}")
