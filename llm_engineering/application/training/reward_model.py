"""Reward-model training: TRL's RewardTrainer on the preference pairs, from the base model or a trained stage.

The start model (a causal LM; an adapter is merged into its base first) is loaded as a 1-label
`AutoModelForSequenceClassification`: its backbone, plus a fresh `score` head. LoRA/DoRA train the backbone through
an adapter (PEFT task SEQ_CLS) while the score head is trained in full (`modules_to_save`); `full` trains it all.
The result is merged and saved as a plain sequence-classification folder, which `RewardModelScorer` loads.

We tokenize the pairs ourselves, with the scorer's own function (infrastructure/reward_scorer.py), so that training,
the held-out accuracy and later scoring (GRPO rewards, curation) lay a pair out identically. The held-out accuracy
is measured by that scorer on the exported folder: what is reported is what is shipped.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.checkpoints import train_from_last_checkpoint
from llm_engineering.application.training.data_preparation import cap
from llm_engineering.application.training.divergence import DivergenceGuard
from llm_engineering.application.training.peft_methods import build_peft_config
from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.application.training.trainer_arguments import (
    final_metrics,
    log_history_of,
    save_final,
    shared_arguments,
)
from llm_engineering.application.training.training_progress import TrainingProgress
from llm_engineering.domain.config.reward_model_stage import RewardModelStageConfig
from llm_engineering.domain.config.training import BaseModelConfig
from llm_engineering.domain.training import StageResult
from llm_engineering.infrastructure.base_model import resolve_base_model
from llm_engineering.infrastructure.causal_lm import (
    TRAINING_INFO,
    TrainingInfo,
    is_prompt_learning,
    load_trained_model,
    read_training_info,
    torch_dtype,
)
from llm_engineering.infrastructure.reward_scorer import RewardModelScorer, conversation_ids

FINAL_FOLDER = "final"
STAGE = "reward_model"


class RewardModelStartError(ValueError):
    """The model a reward_model stage should start from cannot become a reward model."""


def train_reward_model(
    start_model: str,
    preference_dataset: Any,
    base_model: BaseModelConfig,
    config: RewardModelStageConfig,
    output_dir: Path,
    *,
    max_train_samples: int | None = None,
    device: str = "cpu",
    report_to: list[str] | None = None,
) -> StageResult:
    """Train a reward model on `preference_dataset` (train/test splits of prompt/chosen/rejected) and export it.

    `start_model` is a base-model name or folder (as `resolve_base_model` reads it) or a folder a training stage
    of ours wrote (training_info.json; an adapter is merged into its base first).
    """
    from trl import RewardConfig, RewardTrainer

    output_dir = Path(output_dir)
    train_split = cap(preference_dataset["train"], max_train_samples)
    test_split = preference_dataset["test"]
    tokenizer, origin = _tokenizer_of(start_model)
    train = tokenize_pairs(train_split, tokenizer, config.max_length)
    test = tokenize_pairs(test_split, tokenizer, config.max_length)
    optimization = config.optimization
    # The score head is random: seed before building it, so a rerun (and a resume) starts from the same head.
    _seed(optimization.seed)
    model = load_sequence_classifier(start_model, base_model, output_dir)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))

    arguments = RewardConfig(
        **shared_arguments(optimization, output_dir, device, report_to or []),
        max_length=config.max_length,  # pairs are already cut to it (keeping their end): nothing is filtered out
    )
    trainer = RewardTrainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=test,
        processing_class=tokenizer,
        peft_config=_peft_config(config, model),
        callbacks=[
            DivergenceGuard(config.name or STAGE),
            StopOnSignal(config.name or STAGE),
            TrainingProgress(config.name or STAGE),
        ],
    )
    resume = train_from_last_checkpoint(trainer, output_dir, config.resume_from_checkpoint)
    metrics = final_metrics(trainer)
    final = output_dir / FINAL_FOLDER
    trained = trainer.accelerator.unwrap_model(trainer.model)
    if config.adapter.method != "full":
        trained = trained.merge_and_unload()  # LoRA/DoRA into the backbone; the trained score head replaces the old
    info = TrainingInfo(stage=STAGE, method=config.adapter.method, base_model=origin, is_adapter=False)
    # Rank 0 writes; every process then scores the held-out pairs from the folder (rank 0's numbers are returned).
    save_final(final, tokenizer, info, trained)

    scorer = RewardModelScorer(final, device=device, dtype=base_model.dtype, max_length=config.max_length)
    metrics.update(pairwise_accuracy(scorer, test_split, optimization.per_device_eval_batch_size))
    metrics.update({"train_pairs": len(train), "test_pairs": len(test)})
    return StageResult(model_dir=final, metrics=metrics, log_history=log_history_of(trainer), resumed_from=resume)


def pairwise_accuracy(scorer: RewardModelScorer, split: Any, batch_size: int = 8) -> dict[str, float]:
    """reward_accuracy: the share of pairs whose chosen answer scores above the rejected one;
    reward_margin: the mean of score(chosen) - score(rejected)."""
    prompts = list(split["prompt"])
    if not prompts:
        raise ValueError("pairwise_accuracy: the split has no pairs")
    chosen = scorer.score(prompts, list(split["chosen"]), batch_size)
    rejected = scorer.score(prompts, list(split["rejected"]), batch_size)
    margins = [good - bad for good, bad in zip(chosen, rejected, strict=True)]
    return {
        "reward_accuracy": sum(1 for margin in margins if margin > 0) / len(margins),
        "reward_margin": sum(margins) / len(margins),
    }


def tokenize_pairs(split: Any, tokenizer: Any, max_length: int) -> Any:
    """prompt/chosen/rejected strings -> TRL's processed preference format (chosen_ids/rejected_ids)."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "chosen_ids": conversation_ids(tokenizer, prompt, chosen, max_length),
                "rejected_ids": conversation_ids(tokenizer, prompt, rejected, max_length),
            }
            for prompt, chosen, rejected in zip(split["prompt"], split["chosen"], split["rejected"], strict=True)
        ]
    )


def load_sequence_classifier(start_model: str, base_model: BaseModelConfig, scratch: Path) -> Any:
    """The start model as a 1-label sequence classifier (backbone from the start model, a new score head).

    An adapter folder is merged into its base and saved to a scratch folder first, so that transformers maps the
    causal LM's weights onto the classifier the same way for every kind of start."""
    from transformers import AutoModelForSequenceClassification
    from trl.trainer.reward_trainer import suppress_seqcls_warning

    def classifier(folder: str) -> Any:
        with suppress_seqcls_warning():  # the new score head and the dropped lm_head are expected, not a problem
            return AutoModelForSequenceClassification.from_pretrained(
                folder,
                num_labels=1,
                dtype=torch_dtype(base_model.dtype),
                attn_implementation=base_model.attn_implementation,
            )

    folder = Path(start_model)
    if not (folder / TRAINING_INFO).is_file():
        return classifier(resolve_base_model(start_model))
    info = read_training_info(folder)
    if info.stage == STAGE:
        raise RewardModelStartError(f"{folder} is a reward model; a reward_model stage starts from a policy model")
    if not info.is_adapter:
        return classifier(str(folder))
    if is_prompt_learning(folder):
        raise RewardModelStartError(
            f"{folder} holds a {info.method} adapter (virtual tokens), which cannot be merged into the model a "
            "reward model starts from; start from a lora, dora, ia3 or full stage, or from base"
        )
    merged = load_trained_model(folder, base_model.dtype, "cpu", attn_implementation=base_model.attn_implementation)
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="merged-start-") as staging:
        merged.merge_and_unload().save_pretrained(staging)
        return classifier(staging)


def _tokenizer_of(start_model: str) -> tuple[Any, str]:
    """The tokenizer with our chat template, and the base model name to record as the origin."""
    from transformers import AutoTokenizer

    folder = Path(start_model)
    if (folder / TRAINING_INFO).is_file():
        return apply_chat_template(AutoTokenizer.from_pretrained(str(folder))), read_training_info(folder).base_model
    return apply_chat_template(AutoTokenizer.from_pretrained(resolve_base_model(start_model))), start_model


def _peft_config(config: RewardModelStageConfig, model: Any) -> Any | None:
    """Our adapter as a SEQ_CLS PEFT config whose score head trains in full; None for a full fine-tune."""
    import peft

    adapter = build_peft_config(config.adapter)
    if adapter is None:
        return None
    head = next((name for name in ("score", "classifier") if hasattr(model, name)), None)
    if head is None:
        raise RewardModelStartError(f"{type(model).__name__} has no score/classifier head to train")
    return dataclasses.replace(adapter, task_type=peft.TaskType.SEQ_CLS, modules_to_save=[head])


def _seed(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)
