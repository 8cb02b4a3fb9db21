"""Loading causal LMs and tokenizers: base models, and the folders our training steps write.

A trained folder holds `training_info.json` (method, stage, base model name as configured) and either full
weights or a PEFT adapter. The adapter's base is resolved again from the configured name, so a folder trained
on another machine (GPU container) loads here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llm_engineering.infrastructure.base_model import resolve_base_model

TRAINING_INFO = "training_info.json"
PROMPT_LEARNING = ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING")


class TrainingInfo(BaseModel):
    stage: str  # "sft" | "dpo"
    method: str
    base_model: str
    is_adapter: bool


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_base_model(name_or_path))


def _attention(attn_implementation: str | None) -> dict:
    return {} if attn_implementation is None else {"attn_implementation": attn_implementation}


def load_base_model(
    name: str, dtype: str = "float32", device: str = "cpu", attn_implementation: str | None = None
) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        resolve_base_model(name), dtype=torch_dtype(dtype), **_attention(attn_implementation)
    )
    return model.to(device)


def write_training_info(folder: Path, info: TrainingInfo) -> None:
    (folder / TRAINING_INFO).write_text(info.model_dump_json(indent=2))


def read_training_info(folder: Path) -> TrainingInfo:
    return TrainingInfo.model_validate(json.loads((Path(folder) / TRAINING_INFO).read_text()))


def load_trained_model(
    folder: Path,
    dtype: str = "float32",
    device: str = "cpu",
    trainable: bool = False,
    attn_implementation: str | None = None,
) -> Any:
    """Base + adapter (a `PeftModel`) or the full fine-tuned model."""
    info = read_training_info(folder)
    if not info.is_adapter:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch_dtype(dtype), **_attention(attn_implementation)
        ).to(device)
    from peft import PeftModel

    base = load_base_model(info.base_model, dtype, device, attn_implementation)
    prompt_learning = json.loads((Path(folder) / "adapter_config.json").read_text()).get("peft_type") in PROMPT_LEARNING
    # PEFT refuses `is_trainable` for a saved prompt-learning adapter; its virtual tokens are unfrozen by hand.
    model = PeftModel.from_pretrained(base, str(folder), is_trainable=trainable and not prompt_learning).to(device)
    if trainable and prompt_learning:
        for parameter in model.prompt_encoder.parameters():
            parameter.requires_grad = True
    return model


def is_prompt_learning(folder: Path) -> bool:
    config = Path(folder) / "adapter_config.json"
    return config.is_file() and json.loads(config.read_text()).get("peft_type") in PROMPT_LEARNING


def module_names(model_name: str) -> set[str]:
    """Leaf module names (`q_proj`, ...) of a model, built on the meta device: no weights are loaded."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(resolve_base_model(model_name))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if not list(module.children())}
