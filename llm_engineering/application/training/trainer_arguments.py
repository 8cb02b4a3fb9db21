"""YAML optimisation block -> the keyword arguments TRL's SFTConfig / DPOConfig share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.domain.config.training import OptimizationConfig


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
