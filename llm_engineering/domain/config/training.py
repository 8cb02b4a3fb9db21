"""The training pipeline's `parameters:` block (SFT -> DPO -> evaluation -> export), validated before any work.

Nothing here imports torch: checks that need the hardware (QLoRA, unsloth) run when the training step starts,
on the machine that trains.
"""

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
    path: Path | None = Field(None, description="DatasetDict folder, or a folder with train.jsonl and test.jsonl")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetInput:
        if (self.artifact is None) == (self.path is None):
            raise ValueError("set exactly one of `artifact` or `path`")
        if self.path is not None and not self.path.exists():
            raise ValueError(f"dataset path does not exist: {self.path}")
        return self


class DatasetsConfig(StrictModel):
    instruction: DatasetInput = DatasetInput(artifact="instruction_dataset")
    preference: DatasetInput = DatasetInput(artifact="preference_dataset")
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


class SftConfig(StrictModel):
    adapter: AdapterConfig = AdapterConfig()
    optimization: OptimizationConfig = OptimizationConfig()
    max_length: int = Field(384, gt=8, description="tokens per training sequence")
    packing: bool = Field(
        False,
        description="pack samples into rows of max_length (best fit), each attending only to itself: padding-free "
        "batches with flash attention, per-row block-diagonal masks with sdpa/eager",
    )
    assistant_only_loss: bool = Field(True, description="loss on the assistant's tokens only")
    resume_from_checkpoint: bool = Field(True, description="resume from the last checkpoint a rerun finds")


class DpoConfig(StrictModel):
    """The alignment stage on the SFT result: DPO or KTO (both against the SFT model as reference) or ORPO
    (reference-free, TRL experimental). KTO learns from unpaired good/bad answers; our pairs are unpaired for it."""

    enabled: bool = True
    method: Literal["dpo", "kto", "orpo"] = "dpo"
    beta: float = Field(0.1, gt=0)
    loss_type: DpoLossType | KtoLossType | None = Field(
        None, description="dpo: sigmoid (default), ipo, hinge, ...; kto: kto (default) or apo_zero_unpaired"
    )
    max_length: int = Field(384, gt=8)
    optimization: OptimizationConfig = OptimizationConfig(learning_rate=5e-5)
    resume_from_checkpoint: bool = True

    @model_validator(mode="after")
    def _loss_type_fits_the_method(self) -> DpoConfig:
        allowed = LOSS_TYPES[self.method]
        if self.loss_type is not None and self.loss_type not in allowed:
            raise ValueError(
                f"loss_type {self.loss_type!r} does not apply to method {self.method!r}; "
                + (f"choose one of {list(allowed)}" if allowed else "orpo has a single loss: leave loss_type unset")
            )
        if self.method == "kto" and self.optimization.per_device_train_batch_size < 2:
            # TRL's KTO estimates its KL term from mismatched completions within a batch.
            raise ValueError("method 'kto' needs optimization.per_device_train_batch_size >= 2 (its KL estimate)")
        return self

    @property
    def resolved_loss_type(self) -> str | None:
        return self.loss_type or next(iter(LOSS_TYPES[self.method]), None)


class JudgeConfig(StrictModel):
    """An OpenAI-compatible chat endpoint that scores answers; skipped when `base_url` is unset."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    samples: int = Field(5, gt=0)


class EvaluationConfig(StrictModel):
    enabled: bool = True
    loss_samples: int = Field(32, gt=0, description="instruction test samples for held-out loss/perplexity")
    generation_samples: int = Field(4, ge=0, description="test samples answered greedily for ROUGE-L")
    max_new_tokens: int = Field(48, gt=0)
    preference_samples: int = Field(32, gt=0, description="held-out pairs for reward accuracy/margin")
    batch_size: int = Field(4, gt=0)
    judge: JudgeConfig = JudgeConfig()


class PromotionConfig(StrictModel):
    metric: str = Field("eval_loss", description="a metric of the final model in the evaluation report")
    lower_is_better: bool = True
    stage: Literal["production", "staging"] = "production"
    # Gates the final model must pass before `metric` is even compared, e.g. {reward_accuracy: 0.75}: one metric
    # alone can promote a model that got worse elsewhere (a lower held-out loss after a failed alignment).
    min_metrics: dict[str, float] = Field({}, description="metric -> the lowest value that may be promoted")
    max_metrics: dict[str, float] = Field({}, description="metric -> the highest value that may be promoted")


class ExportConfig(StrictModel):
    folder: Path | None = Field(None, description="defaults to <data_dir>/exports/<model name>")


class HubConfig(StrictModel):
    model_repo: str | None = Field(None, description="push when set and HF_TOKEN is set")
    private: bool = True


class TrackingConfig(StrictModel):
    comet: bool = Field(True, description="Comet experiment: offline unless COMET_API_KEY is set")


class TrainingParameters(StrictModel):
    datasets: DatasetsConfig = DatasetsConfig()
    base_model: BaseModelConfig = BaseModelConfig()
    backend: Literal["auto", "trl", "unsloth"] = "auto"
    sft: SftConfig = SftConfig()
    dpo: DpoConfig = DpoConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    export: ExportConfig = ExportConfig()
    hub: HubConfig = HubConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _dpo_supports_method(self) -> TrainingParameters:
        if self.dpo.enabled and self.sft.adapter.method in PROMPT_LEARNING_METHODS:
            raise ValueError(
                f"dpo.enabled with sft.adapter.method={self.sft.adapter.method!r}: TRL's DPOTrainer cannot train "
                "prompt-learning adapters; set dpo.enabled: false or use lora, dora, ia3 or full"
            )
        return self
