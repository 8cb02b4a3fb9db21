"""Preference alignment of the SFT result: TRL's DPOTrainer, KTOTrainer, or ORPO (TRL's experimental package).

KTO takes unpaired examples (a completion and whether it is desirable); TRL's KTOTrainer unpairs our
prompt/chosen/rejected rows itself (chosen -> desirable, rejected -> undesirable).

With an adapter, DPO (and KTO) keeps training the SFT adapter and the reference is implicit: TRL copies the SFT adapter
into a frozen "ref" adapter and switches to it for the reference log-probs, so no second model is loaded.
A full fine-tune gets a frozen copy of the SFT model as reference. Prompt-learning adapters are refused at
config time (TRL 1.16's DPOTrainer reads hidden states PEFT's virtual-token models do not return).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.application.training.checkpoints import train_from_last_checkpoint
from llm_engineering.application.training.data_preparation import (
    cap,
    check_preference_lengths,
    to_conversational_preferences,
)
from llm_engineering.application.training.divergence import DivergenceGuard
from llm_engineering.application.training.sft import FINAL_FOLDER
from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.application.training.trainer_arguments import (
    final_metrics,
    log_history_of,
    save_continued_policy,
    shared_arguments,
)
from llm_engineering.application.training.training_progress import TrainingProgress
from llm_engineering.domain.config.training import AlignmentConfig, BaseModelConfig
from llm_engineering.domain.training import StageResult
from llm_engineering.infrastructure.causal_lm import (
    load_trained_model,
    read_training_info,
)


def train_dpo(
    sft_model_dir: Path,
    preference_dataset: Any,
    base_model: BaseModelConfig,
    config: AlignmentConfig,
    output_dir: Path,
    *,
    max_train_samples: int | None = None,
    device: str = "cpu",
    report_to: list[str] | None = None,
) -> StageResult:
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    sft_info = read_training_info(sft_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(sft_model_dir))  # carries our chat template
    train_split = cap(preference_dataset["train"], max_train_samples)
    check_preference_lengths(train_split, tokenizer, config.max_length)
    model = load_trained_model(
        sft_model_dir, base_model.dtype, device, trainable=True, attn_implementation=base_model.attn_implementation
    )
    # Every method takes beta and max_length; DPO and KTO also a loss type (DPO's as a list of losses to mix).
    common = {**shared_arguments(config.optimization, output_dir, device, report_to or []),
              "beta": config.beta, "max_length": config.max_length}  # fmt: skip
    if config.method == "orpo":
        # ORPO (Hong et al., 2024) adds an odds-ratio term to the NLL of the chosen answer: no reference model.
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

        trainer_class, arguments = ORPOTrainer, ORPOConfig(**common)
    elif config.method == "kto":
        # KTO (Ethayarajh et al., 2024): a prospect-theory loss on single answers, against the SFT reference.
        trainer_class, arguments = KTOTrainer, KTOConfig(**common, loss_type=config.resolved_loss_type)
    else:
        trainer_class, arguments = DPOTrainer, DPOConfig(**common, loss_type=[config.resolved_loss_type])
    trainer = trainer_class(
        model=model,
        args=arguments,
        train_dataset=to_conversational_preferences(train_split),
        eval_dataset=to_conversational_preferences(preference_dataset["test"]),
        processing_class=tokenizer,
        callbacks=[DivergenceGuard(config.method), StopOnSignal(config.method), TrainingProgress(config.method)],
    )
    resume = train_from_last_checkpoint(trainer, output_dir, config.resume_from_checkpoint)
    metrics = final_metrics(trainer)
    final = output_dir / FINAL_FOLDER
    trained = trainer.accelerator.unwrap_model(trainer.model)
    save_continued_policy(trained, tokenizer, final, sft_info, config.method)
    metrics.update({"train_pairs": len(train_split), "test_pairs": len(preference_dataset["test"])})
    return StageResult(model_dir=final, metrics=metrics, log_history=log_history_of(trainer), resumed_from=resume)
