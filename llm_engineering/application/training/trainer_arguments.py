"""What SFT and DPO share around TRL's trainers: the YAML optimisation block as the keyword arguments their configs
take, and what is read back from a finished trainer (metrics, log history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.domain.config.training import OptimizationConfig
from llm_engineering.infrastructure.causal_lm import TrainingInfo, write_training_info
from llm_engineering.infrastructure.distributed import written_by_main_process


def shared_arguments(optimization: OptimizationConfig, output_dir: Path, device: str, report_to: list[str]) -> dict:
    evaluate_during_training = optimization.eval_steps is not None
    return {
        "output_dir": str(output_dir),
        "learning_rate": optimization.learning_rate,
        "lr_scheduler_type": optimization.lr_scheduler_type,
        "warmup_steps": optimization.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        "per_device_train_batch_size": optimization.per_device_train_batch_size,
        "per_device_eval_batch_size": optimization.per_device_eval_batch_size,
        "gradient_accumulation_steps": optimization.gradient_accumulation_steps,
        "num_train_epochs": optimization.num_train_epochs,
        "max_steps": optimization.max_steps,
        "optim": optimization.optim,
        "weight_decay": optimization.weight_decay,
        "max_grad_norm": optimization.max_grad_norm,
        "gradient_checkpointing": optimization.gradient_checkpointing,
        "logging_steps": optimization.logging_steps,
        "logging_nan_inf_filter": False,  # a NaN loss is logged as NaN, and DivergenceGuard stops the stage
        "eval_strategy": "steps" if evaluate_during_training else "no",
        "eval_steps": optimization.eval_steps,
        "save_strategy": "steps",
        "save_steps": optimization.save_steps,
        "save_total_limit": optimization.save_total_limit,
        "seed": optimization.seed,
        "data_seed": optimization.seed,
        # TRL defaults to bf16; on CPU that is slow or unsupported, so precision follows the device.
        "use_cpu": device == "cpu",
        "bf16": device == "cuda",
        "report_to": report_to,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def log_history_of(trainer: Any) -> list[dict[str, float]]:
    return [dict(entry) for entry in trainer.state.log_history]


def final_metrics(trainer: Any) -> dict[str, float]:
    """The held-out evaluation, plus what the log says about the run: last training loss, largest gradient norm."""
    metrics = {key: float(value) for key, value in trainer.evaluate().items()}
    history = trainer.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    norms = [entry["grad_norm"] for entry in history if "grad_norm" in entry]
    if losses:
        metrics["last_train_loss"] = float(losses[-1])
    if norms:
        metrics["max_grad_norm_seen"] = float(max(norms))
    return metrics


def save_final(final: Path, tokenizer: Any, info: TrainingInfo, model: Any | None = None, **save: Any) -> None:
    """A stage's final folder: the model's weights when given (`save`: save_pretrained's options; a trainer's
    save_model writes them otherwise, from every process since FSDP gathers them there), the tokenizer and
    training_info. Written by rank 0 when the stage trains in several processes; the others wait for it."""

    def write() -> None:
        if model is not None:
            model.save_pretrained(str(final), **save)
        tokenizer.save_pretrained(str(final))
        write_training_info(final, info)

    written_by_main_process(write)


def save_continued_policy(trained: Any, tokenizer: Any, final: Path, start: TrainingInfo, stage: str) -> None:
    """A stage that continued a trained policy (alignment, online RL) writes its folder as that policy was: the
    adapter alone (not TRL's frozen "ref" copy) or the full weights, the tokenizer, and training_info naming the
    stage."""
    save = {"selected_adapters": ["default"]} if start.is_adapter else {}
    save_final(final, tokenizer, TrainingInfo(**{**start.model_dump(), "stage": stage}), trained, **save)
