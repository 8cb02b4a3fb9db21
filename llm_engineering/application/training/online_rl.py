"""Online RL of a trained policy: TRL's GRPOTrainer (`grpo`) or RLOOTrainer (`rloo`) with our reward functions.

The policy (an SFT/DPO folder: LoRA adapter or full model) answers the instruction dataset's train instructions,
`num_generations` times each; the weighted reward functions (reward_functions.py, TRL's `reward_weights`) score the
answers, and the trainer moves the policy towards the better answers of each group. An adapter keeps training (as
DPO does); with beta > 0 the reference is TRL's frozen copy of it (or, for a full model, a second copy of the model).

Besides TRL's logged rewards (`rewards/<name>/mean` per function in the log history, which the loss-curve plot
draws), the stage measures what it set out to change: the test split's instructions answered greedily before and
after training, scored by every reward function (`heldout_<name>_before/_after`, weighted `heldout_reward_*`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.application.evaluation.rouge import generate_answers
from llm_engineering.application.training.checkpoints import train_from_last_checkpoint
from llm_engineering.application.training.data_preparation import DatasetError, cap
from llm_engineering.application.training.divergence import DivergenceGuard
from llm_engineering.application.training.reward_functions import (
    REQUIRED_COLUMNS,
    RewardFunction,
    RewardFunctionError,
    resolve_reward,
)
from llm_engineering.application.training.sft import FINAL_FOLDER
from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.application.training.trainer_arguments import (
    log_history_of,
    save_continued_policy,
    shared_arguments,
)
from llm_engineering.application.training.training_progress import TrainingProgress
from llm_engineering.domain.config.rl_stages import GrpoStageConfig, RlooStageConfig
from llm_engineering.domain.config.training import BaseModelConfig
from llm_engineering.domain.training import StageResult
from llm_engineering.infrastructure.causal_lm import (
    load_trained_model,
    read_training_info,
)

# Columns the reward functions may read, besides the prompt (the rest of a sample is not passed on).
REWARD_COLUMNS = ("answer", "extract", "document_id", "sample_id", "source")


def train_online_rl(
    policy_dir: Path,
    instruction_dataset: Any,
    base_model: BaseModelConfig,
    config: GrpoStageConfig | RlooStageConfig,
    output_dir: Path,
    *,
    max_train_samples: int | None = None,
    device: str = "cpu",
    report_to: list[str] | None = None,
    reward_context: dict | None = None,
) -> StageResult:
    from transformers import AutoTokenizer

    policy = read_training_info(policy_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))  # carries our chat template
    rewards = [resolve_reward(spec, {"device": device, **(reward_context or {})}) for spec in config.rewards]
    train_split = cap(instruction_dataset["train"], max_train_samples)
    heldout_split = cap(instruction_dataset["test"], config.heldout_samples)
    _check_columns(config, train_split)
    train, too_long = prompt_dataset(train_split, tokenizer, config.max_prompt_length)
    if len(train) == 0:
        raise DatasetError(
            f"{config.kind}.max_prompt_length={config.max_prompt_length} leaves out every prompt of the train split "
            f"({len(train_split)} instructions); raise {config.kind}.max_prompt_length"
        )
    model = load_trained_model(
        policy_dir, base_model.dtype, device, trainable=True, attn_implementation=base_model.attn_implementation
    )
    before = heldout_rewards(model, tokenizer, heldout_split, rewards, config.max_completion_length)

    trainer = _trainer(config, model, tokenizer, rewards, train, heldout_split, output_dir, device, report_to)
    resume = train_from_last_checkpoint(trainer, output_dir, config.resume_from_checkpoint)
    trained = trainer.accelerator.unwrap_model(trainer.model)
    after = heldout_rewards(trained, tokenizer, heldout_split, rewards, config.max_completion_length)

    final = output_dir / FINAL_FOLDER
    save_continued_policy(trained, tokenizer, final, policy, config.kind)

    history = log_history_of(trainer)
    metrics = {
        **_training_summary(history, rewards),
        **{f"heldout_{name}_before": value for name, value in before.items()},
        **{f"heldout_{name}_after": value for name, value in after.items()},
        "train_prompts": float(len(train)),
        "train_prompts_too_long": float(too_long),
        "heldout_prompts": float(len(heldout_split)),
    }
    for reward in rewards:
        if hasattr(reward.function, "unjudged"):
            metrics[f"{reward.name}_unjudged"] = float(reward.unjudged)
    return StageResult(model_dir=final, metrics=metrics, log_history=history, resumed_from=resume)


def _trainer(
    config: GrpoStageConfig | RlooStageConfig,
    model: Any,
    tokenizer: Any,
    rewards: list[RewardFunction],
    train: Any,
    heldout_split: Any,
    output_dir: Path,
    device: str,
    report_to: list[str] | None,
) -> Any:
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    config_class, trainer_class = (GRPOConfig, GRPOTrainer) if config.kind == "grpo" else (RLOOConfig, RLOOTrainer)
    arguments = config_class(
        **shared_arguments(config.optimization, output_dir, device, report_to or []),
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        beta=config.beta,
        reward_weights=[reward.weight for reward in rewards],
        remove_unused_columns=False,  # the reward functions read the dataset's other columns
    )
    evaluate_during_training = config.optimization.eval_steps is not None
    return trainer_class(
        model=model,
        reward_funcs=rewards,
        args=arguments,
        train_dataset=train,
        eval_dataset=prompt_dataset(heldout_split, tokenizer, None)[0] if evaluate_during_training else None,
        processing_class=tokenizer,
        callbacks=[DivergenceGuard(config.kind), StopOnSignal(config.kind), TrainingProgress(config.kind)],
    )


def _check_columns(config: GrpoStageConfig | RlooStageConfig, split: Any) -> None:
    for spec in config.rewards:
        missing = [column for column in REQUIRED_COLUMNS.get(spec.name, ()) if column not in split.column_names]
        if missing:
            raise RewardFunctionError(
                f"reward function {spec.name!r} reads column(s) {missing}, which the instruction dataset lacks "
                f"(has {split.column_names})"
            )


def prompt_dataset(split: Any, tokenizer: Any, max_prompt_length: int | None) -> tuple[Any, int]:
    """TRL's conversational prompts (`prompt`: the user turn) with the columns reward functions read, and how many
    instructions were left out for a templated prompt longer than max_prompt_length tokens."""
    kept_columns = [column for column in REWARD_COLUMNS if column in split.column_names]
    rows = []
    for index, instruction in enumerate(split["instruction"]):
        prompt = [{"role": "user", "content": instruction}]
        if max_prompt_length is not None:
            ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
            if len(ids["input_ids"]) > max_prompt_length:
                continue
        rows.append({"prompt": prompt, **{column: split[index][column] for column in kept_columns}})
    from datasets import Dataset

    dataset = Dataset.from_list(rows) if rows else Dataset.from_dict({"prompt": []})
    return dataset, len(split) - len(rows)


def heldout_rewards(
    model: Any, tokenizer: Any, split: Any, rewards: list[RewardFunction], max_new_tokens: int
) -> dict[str, float]:
    """Mean reward per function of greedy answers to the split's instructions, and the weighted total (`reward`)."""
    if len(split) == 0:
        return {}
    prompts = [[{"role": "user", "content": instruction}] for instruction in split["instruction"]]
    answers = generate_answers(model, tokenizer, prompts, max_new_tokens)
    completions = [[{"role": "assistant", "content": answer}] for answer in answers]
    columns = {column: list(split[column]) for column in REWARD_COLUMNS if column in split.column_names}
    means = {
        reward.name: sum(reward(prompts=prompts, completions=completions, **columns)) / len(prompts)
        for reward in rewards
    }
    means["reward"] = sum(reward.weight * means[reward.name] for reward in rewards)
    return means


def _training_summary(history: list[dict[str, float]], rewards: list[RewardFunction]) -> dict[str, float]:
    """The last logged loss, total reward and reward per function, and the largest gradient norm seen."""
    summary: dict[str, float] = {}
    last = {
        "last_train_loss": "loss",
        "train_reward_last": "reward",
        **{f"train_{reward.name}_last": f"rewards/{reward.name}/mean" for reward in rewards},
    }
    for metric, key in last.items():
        values = [entry[key] for entry in history if key in entry]
        if values:
            summary[metric] = float(values[-1])
    norms = [entry["grad_norm"] for entry in history if "grad_norm" in entry]
    if norms:
        summary["max_grad_norm_seen"] = float(max(norms))
    return summary
