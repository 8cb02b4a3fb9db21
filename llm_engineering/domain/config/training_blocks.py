"""The blocks every training stage shares (datasets, base model, adapter, optimisation) and the names they take.
Stage config modules import from here, so `training.py` can hold the union of all stages without an import cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, model_validator

from llm_engineering.domain.config.base import StrictModel

PeftMethod = Literal["full", "lora", "qlora", "dora", "prefix_tuning", "prompt_tuning", "p_tuning", "ia3"]
PROMPT_LEARNING_METHODS = ("prefix_tuning", "prompt_tuning", "p_tuning")
MERGEABLE_METHODS = ("lora", "qlora", "dora", "ia3")
# Losses of TRL 1.16's DPOTrainer and KTOTrainer (ORPO, from trl.experimental, has a single loss).
DpoLossType = Literal["sigmoid", "ipo", "hinge", "robust", "exo_pair", "bco_pair", "sppo_hard", "apo_zero", "apo_down"]
KtoLossType = Literal["kto", "apo_zero_unpaired"]
# Per alignment method, the losses it takes; the first is its default (ORPO has a single, built-in loss).
LOSS_TYPES: dict[str, tuple[str, ...]] = {"dpo": get_args(DpoLossType), "kto": get_args(KtoLossType), "orpo": ()}
Optimizer = Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd"]
GPU_ONLY_OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit")
Scheduler = Literal["linear", "cosine", "cosine_with_restarts", "constant", "constant_with_warmup", "polynomial"]
AttentionImplementation = Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"]
FLASH_ATTENTION = ("flash_attention_2", "flash_attention_3")


class DatasetInput(StrictModel):
    """A ZenML artifact (latest or pinned version) or a local dataset (`save_to_disk` folder or JSONL files)."""

    artifact: str | None = Field(None, description="ZenML artifact name")
    version: str | None = Field(None, description="pinned artifact version; latest when unset")
    path: Path | None = Field(
        None,
        description="DatasetDict folder, or a folder with train.jsonl and test.jsonl; columns in one of the shapes "
        "application/training/local_datasets.py converts (README: Local datasets)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetInput:
        if (self.artifact is None) == (self.path is None):
            raise ValueError("set exactly one of `artifact` or `path`")
        if self.path is not None and not self.path.exists():
            raise ValueError(f"dataset path does not exist: {self.path}")
        return self


class DatasetsConfig(StrictModel):
    instruction: DatasetInput = DatasetInput(artifact="instruction_dataset")
    preference: DatasetInput | None = Field(
        DatasetInput(artifact="preference_dataset"), description="null when no stage trains on preference pairs"
    )
    max_train_samples: int | None = Field(None, gt=0, description="cap per training split (quick runs)")


class BaseModelConfig(StrictModel):
    name: str = Field("bundled:SmolLM2-135M-Instruct", description="'bundled:...', a local folder or a hub id")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: AttentionImplementation = Field(
        "sdpa",
        description="transformers attention kernel for training and evaluation; flash_attention_2/3 need a CUDA GPU "
        "and the flash-attn package (checked when a training or evaluation step starts)",
    )


class AdapterConfig(StrictModel):
    method: PeftMethod = "lora"
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    feedforward_modules: list[str] = Field([], description="IA3 only: which of target_modules are feed-forward")
    num_virtual_tokens: int = Field(16, gt=0, description="prefix/prompt/p-tuning")
    prompt_tuning_init_text: str | None = Field(None, description="prompt tuning: initialise from this text")
    merge_for_export: bool = Field(True, description="LoRA/DoRA/IA3: export the merged model instead of the adapter")


class OptimizationConfig(StrictModel):
    """Hugging Face TrainingArguments knobs shared by SFT and DPO."""

    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: Scheduler = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    per_device_train_batch_size: int = Field(4, gt=0)
    per_device_eval_batch_size: int = Field(4, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="overrides epochs when > 0")
    optim: Optimizer = "adamw_torch"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = False
    logging_steps: int = Field(5, gt=0)
    eval_steps: int | None = Field(None, gt=0, description="evaluate every N steps; only at the end when unset")
    save_steps: int = Field(50, gt=0)
    save_total_limit: int = Field(2, gt=0)
    seed: int = 42
