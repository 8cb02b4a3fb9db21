"""unsloth's fast LoRA path (CUDA only). Imported lazily: unsloth patches torch/transformers on import."""

from __future__ import annotations

from typing import Any

from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from llm_engineering.infrastructure.base_model import resolve_base_model

UNSLOTH_METHODS = ("lora", "qlora", "full")


def load_unsloth_model(base_model: BaseModelConfig, config: SftConfig) -> Any:
    from unsloth import FastLanguageModel

    adapter = config.adapter
    if adapter.method not in UNSLOTH_METHODS:
        raise ValueError(f"backend unsloth supports sft.adapter.method in {UNSLOTH_METHODS}, not {adapter.method!r}")
    model, _ = FastLanguageModel.from_pretrained(
        model_name=resolve_base_model(base_model.name),
        max_seq_length=config.max_length,
        load_in_4bit=adapter.method == "qlora",
        full_finetuning=adapter.method == "full",
    )
    if adapter.method == "full":
        return model
    return FastLanguageModel.get_peft_model(
        model,
        r=adapter.r,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=adapter.target_modules,
        use_gradient_checkpointing="unsloth" if config.optimization.gradient_checkpointing else False,
        random_state=config.optimization.seed,
    )
