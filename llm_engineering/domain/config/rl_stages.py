"""The online reinforcement-learning stages, `grpo` and `rloo`: the policy answers the instruction dataset's prompts,
reward functions score the answers, and TRL's GRPOTrainer / RLOOTrainer push the policy towards the better ones.

Reward functions are named in YAML (`rewards: [{name: grounding, weight: 1.0}]`): a built-in below, or a dotted path
`package.module:function` to any function with TRL's signature. The built-ins' params are checked here; whether a
name or a dotted path resolves is checked by `application/training/reward_functions.check_reward_specs`, before any
work (it imports code, which the domain does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel, repeated
from llm_engineering.domain.config.distributed import DISTRIBUTED, DistributedConfig
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.config.training_blocks import OptimizationConfig

# ---------------------------------------------------------------- built-in reward functions' params


class FormatLengthParams(StrictModel):
    """An answer of about `target` words that ends properly: 1 within tolerance, falling linearly to 0 at
    `tolerance + target` words away; -1 for an empty answer or one with template markers (`<|im_start|>`,
    `### Response`, ...); 0.5 off an answer cut off mid-sentence (as max_completion_length leaves it)."""

    target: int = Field(60, gt=0, description="words the answer should have")
    tolerance: int = Field(20, ge=0, description="words either side of target that still score 1")


class LengthParams(StrictModel):
    """Toy reward, -|words - target| / target: 0 at exactly `target` words, lower either side."""

    target: int = Field(20, gt=0, description="words the answer should have")


class GroundingRewardParams(StrictModel):
    """Share of the answer's content words (≥ min_word_length characters, not stopwords) found in the sample's
    `extract` column, the same measure as the `grounding` quality filter; 0 for an answer without content words or a
    sample without an extract."""

    min_word_length: int = Field(3, ge=1, description="shorter words do not count as content words")


class RougeLParams(StrictModel):
    """ROUGE-L F1 (stemmed) of the answer against the sample's `answer` column, as the evaluation step scores it."""


class RewardModelParams(StrictModel):
    """The score of a reward model (a 1-label sequence-classification folder, e.g. a `reward_model` stage's output)
    for (prompt, answer)."""

    folder: Path | None = Field(
        None, description="the reward model folder; unset: the one the pipeline passes (the reward_model stage's)"
    )
    batch_size: int = Field(8, gt=0, description="pairs per forward pass of the reward model")


class LlmJudgeParams(StrictModel):
    """An LLM judge's rubric score in [0, 1] (the judge component's; any provider of `llm:`, with its retries and
    response cache) on the answer, given the instruction and, where the sample has one, its reference answer. An
    unparseable verdict or a failed request scores 0 and is counted as unjudged."""

    llm: LLMConfig = Field(LLMConfig(), description="the judge: provider, model, endpoint, retries, cache")
    rubric: str = Field(
        "reward_score", description="a shipped rubric (reward_score: one 1-5 score; accuracy_style; multi_dimension) "
        "or a rubric file"
    )  # fmt: skip
    max_unjudged_fraction: float = Field(
        0.5, ge=0, le=1, description="a batch with more unjudged answers than this share stops the stage"
    )


# The built-in names YAML may use, each with its params model; the application registry implements exactly these.
REWARD_PARAMS: dict[str, type[StrictModel]] = {
    "format_length": FormatLengthParams,
    "length": LengthParams,
    "grounding": GroundingRewardParams,
    "rouge_l": RougeLParams,
    "reward_model": RewardModelParams,
    "llm_judge": LlmJudgeParams,
}


def is_dotted_path(name: str) -> bool:
    """`package.module:function` or `package.module.function`, as opposed to a built-in name."""
    return ":" in name or "." in name


class RewardSpec(StrictModel):
    """One entry of a stage's `rewards:`: which function scores the answers, how much it counts, its params."""

    name: str = Field(
        description="a built-in (format_length, length, grounding, rouge_l, reward_model, llm_judge) or a dotted "
        "path `package.module:function` / `package.module.function` to fn(prompts, completions, **columns) -> "
        "list[float]"
    )
    weight: float = Field(1.0, description="multiplies this function's reward in the total (TRL's reward_weights)")
    params: dict[str, Any] = Field(
        {}, description="the built-in's params (see its model), or keyword arguments bound to a dotted-path function"
    )

    @model_validator(mode="after")
    def _built_in_params(self) -> RewardSpec:
        if self.name in REWARD_PARAMS:
            REWARD_PARAMS[self.name].model_validate(self.params)  # a bad parameter fails now, not mid-run
        return self

    @property
    def label(self) -> str:
        """The function's name in TRL's logs (`rewards/<label>/mean`) and our metrics (`heldout_<label>_after`)."""
        if not is_dotted_path(self.name):
            return self.name
        return self.name.replace(":", ".").rsplit(".", 1)[-1]

    def parsed_params(self) -> StrictModel:
        """A built-in's params as its model (only for built-in names)."""
        return REWARD_PARAMS[self.name].model_validate(self.params)


# ---------------------------------------------------------------- the stages


class OnlineRlStageConfig(StrictModel):
    """What GRPO and RLOO share (TRL's GRPOConfig / RLOOConfig knobs we expose, plus the stage's wiring).

    A step generates `optimization.per_device_train_batch_size * gradient_accumulation_steps` completions: that
    many / num_generations prompts, each answered num_generations times (the batch size counts completions).
    """

    name: str | None = Field(
        None, description="unique stage name (artifacts, metrics, the model card); default: set from the kind"
    )
    rewards: list[RewardSpec] = Field(
        min_length=1, description="the reward functions; the total reward is their weighted sum"
    )
    num_generations: int = Field(4, description="completions sampled per prompt (the group the advantage compares)")
    max_completion_length: int = Field(64, gt=0, description="tokens per completion; longer ones are cut off")
    max_prompt_length: int = Field(
        256,
        gt=0,
        description="tokens per templated prompt; longer prompts are left out of training (counted in the metrics): "
        "TRL 1.16 does not truncate prompts",
    )
    temperature: float = Field(0.9, gt=0, description="sampling temperature of the completions")
    beta: float = Field(
        0.0, ge=0, description="KL coefficient to the starting policy; 0 loads no reference (less memory, faster)"
    )
    heldout_samples: int | None = Field(
        32,
        gt=0,
        description="test prompts answered greedily before and after training for the held-out reward; null: all",
    )
    distributed: DistributedConfig = Field(DistributedConfig(), description=DISTRIBUTED)
    optimization: OptimizationConfig = Field(
        OptimizationConfig(learning_rate=1e-5),
        description="TrainingArguments knobs; learning_rate 1e-5 by default (RL steps are noisy)",
    )
    start_from: str | None = Field(
        None,
        description="the name of an earlier stage whose policy this one trains; default: the previous policy stage",
    )
    resume_from_checkpoint: bool = Field(True, description="resume from the last complete checkpoint a rerun finds")

    @field_validator("rewards")
    @classmethod
    def _unique_labels(cls, rewards: list[RewardSpec]) -> list[RewardSpec]:
        duplicates = repeated([spec.label for spec in rewards])
        if duplicates:
            raise ValueError(
                f"reward function listed twice: {', '.join(duplicates)} (its rewards would share one log line)"
            )
        return rewards

    @model_validator(mode="after")
    def _groups_fit_the_batch(self) -> OnlineRlStageConfig:
        # TRL: at least 2 completions per prompt (the advantage compares them), and the generation batch
        # (per_device_train_batch_size * processes * gradient_accumulation_steps) holds whole groups. Checked here
        # for one process, as our steps train; TRL checks again with the real number of processes.
        if self.num_generations < 2:
            raise ValueError(
                f"num_generations must be >= 2 (the advantage compares completions of one prompt), got "
                f"{self.num_generations}"
            )
        optimization = self.optimization
        batch = optimization.per_device_train_batch_size * optimization.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ValueError(
                f"optimization.per_device_train_batch_size * gradient_accumulation_steps "
                f"({optimization.per_device_train_batch_size} * {optimization.gradient_accumulation_steps} = {batch}) "
                f"must be divisible by num_generations ({self.num_generations}): each step samples whole groups"
            )
        if optimization.eval_steps is not None and optimization.per_device_eval_batch_size % self.num_generations:
            raise ValueError(
                f"optimization.per_device_eval_batch_size ({optimization.per_device_eval_batch_size}) must be "
                f"divisible by num_generations ({self.num_generations}) when eval_steps is set (TRL's evaluation "
                "samples whole groups)"
            )
        return self


class GrpoStageConfig(OnlineRlStageConfig):
    """GRPO (Shao et al., 2024; TRL GRPOTrainer): each completion's advantage is its reward minus its group's mean,
    scaled by the group's standard deviation; no value model."""

    kind: Literal["grpo"] = Field(description="the stage kind (the union's tag)")


class RlooStageConfig(OnlineRlStageConfig):
    """RLOO (Ahmadian et al., 2024; TRL RLOOTrainer): each completion's baseline is the mean reward of the other
    completions of its prompt (leave one out); no value model."""

    kind: Literal["rloo"] = Field(description="the stage kind (the union's tag)")
