"""The `reward_model` training stage: a scalar reward head trained on the preference pairs (TRL's RewardConfig).

The stage turns a causal LM (the base model, or an earlier policy stage's model) into a 1-label sequence
classifier and trains it with the Bradley-Terry loss, -log sigmoid(r(chosen) - r(rejected)). Its model is not a
policy: GRPO rewards and curation score (prompt, answer) pairs with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from llm_engineering.domain.config.base import StrictModel
from llm_engineering.domain.config.distributed import DISTRIBUTED, DistributedConfig
from llm_engineering.domain.config.training_blocks import AdapterConfig, OptimizationConfig

# PEFT methods a reward model can be trained with and then merged into a plain sequence classifier: LoRA and DoRA
# (with the score head fully trained), or a full fine-tune. QLoRA would need a 4-bit base that cannot be merged
# exactly; prompt-learning adapters and IA3 have no SEQ_CLS path we test.
REWARD_MODEL_METHODS = ("full", "lora", "dora")


class RewardModelStageConfig(StrictModel):
    """Reward-model training (TRL RewardTrainer + PEFT) on the preference dataset's prompt/chosen/rejected pairs."""

    # Required, no default: ZenML drops default values when it stores step parameters, and the union needs the tag.
    kind: Literal["reward_model"] = Field(description="the stage kind (the union's tag)")
    name: str | None = Field(
        None, description="unique stage name (artifacts, metrics, the model card); default: set from the kind"
    )
    adapter: AdapterConfig = Field(
        AdapterConfig(),
        description="how the backbone is trained: lora (default, r=8 on q/k/v/o_proj), dora, or full; the score "
        "head is always trained in full, and the result is merged into a plain sequence-classification model",
    )
    distributed: DistributedConfig = Field(DistributedConfig(), description=DISTRIBUTED)
    optimization: OptimizationConfig = Field(
        OptimizationConfig(learning_rate=1e-4), description="TrainingArguments knobs; learning_rate 1e-4 by default"
    )
    max_length: int = Field(
        384,
        gt=8,
        description="tokens per templated prompt + answer; a longer one keeps its last max_length tokens (the "
        "reward is read at the last token)",
    )
    start_from: Literal["base"] | str = Field(
        "base",
        description="'base': the base model; or the name of an earlier policy stage (sft, dpo, ...) whose model "
        "the reward model starts from (an adapter is merged first)",
    )
    resume_from_checkpoint: bool = Field(True, description="resume from the last complete checkpoint a rerun finds")

    @field_validator("adapter")
    @classmethod
    def _mergeable_method(cls, adapter: AdapterConfig) -> AdapterConfig:
        if adapter.method not in REWARD_MODEL_METHODS:
            raise ValueError(
                f"adapter.method {adapter.method!r} is not supported by the reward_model stage; choose one of "
                f"{list(REWARD_MODEL_METHODS)}"
            )
        return adapter
