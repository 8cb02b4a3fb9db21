"""Where a training stage writes, and resuming from the last checkpoint a rerun finds there.

The folder is keyed by a fingerprint of everything that shapes the result (config, base model, dataset
identity), so a rerun of the same run after a crash resumes, and a changed run starts fresh. Every stage trains
through `train_from_last_checkpoint`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def fingerprint(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stage_folder(root: Path, stage: str, key: str) -> Path:
    folder = root / f"{stage}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# What Trainer.save_model writes for a full model or a PEFT adapter (single file or sharded).
WEIGHTS_FILES = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def is_complete_checkpoint(folder: Path) -> bool:
    """Trainer writes a checkpoint in place, weights first and trainer_state.json last, so a kill while
    saving leaves a folder without (or with a cut-off) trainer_state.json; resuming from it crashes."""
    state = folder / "trainer_state.json"
    if not state.is_file() or not any((folder / name).is_file() for name in WEIGHTS_FILES):
        return False
    try:
        json.loads(state.read_text())
    except (OSError, ValueError):
        return False
    return True


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete checkpoint-N folder. Unlike transformers' get_last_checkpoint, which takes the
    highest N as is, a half-written one (a kill during saving) is skipped for the one before it."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = {
        int(match.group(1)): path
        for path in folder.iterdir()
        if (match := re.fullmatch(r"checkpoint-(\d+)", path.name)) and path.is_dir() and is_complete_checkpoint(path)
    }
    return str(steps[max(steps)]) if steps else None


# ---------------------------------------------------------------- resuming a trainer

TOKEN_COUNT_FILE = "trl_train_tokens.json"


def train_from_last_checkpoint(trainer: Any, output_dir: Path, resume: bool) -> str | None:
    """`trainer.train()`, from the last complete checkpoint in output_dir when `resume` (None: a fresh start).

    Transformers restores the weights, optimizer, scheduler, RNG and trainer state; TRL's count of training tokens
    (`num_tokens` in the logs and the metrics: SFT, DPO, KTO, reward, GKD) lives in the trainer and would start again
    at 0, so it is saved beside each checkpoint and read back here."""
    checkpoint = last_checkpoint(output_dir) if resume else None
    if hasattr(trainer, "_total_train_tokens"):
        # First: it writes its file before StopOnSignal ends the stage in the same on_save.
        trainer.callback_handler.callbacks.insert(0, _TokenCountCheckpoint(trainer))
        if checkpoint is not None:
            trainer._total_train_tokens = saved_token_count(Path(checkpoint))
    trainer.train(resume_from_checkpoint=checkpoint)
    return checkpoint


def saved_token_count(checkpoint: Path) -> int:
    """The token count saved with a checkpoint; for one written without it, the last count its trainer logged."""
    try:
        return int(json.loads((checkpoint / TOKEN_COUNT_FILE).read_text())["total_train_tokens"])
    except (OSError, ValueError, KeyError):
        history = json.loads((checkpoint / "trainer_state.json").read_text()).get("log_history", [])
        logged = [entry["num_tokens"] for entry in history if "num_tokens" in entry]
        return int(logged[-1]) if logged else 0


class _TokenCountCheckpoint(TrainerCallback):
    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir() and state.is_world_process_zero:  # the checkpoint's writer (rank 0 of several)
            count = {"total_train_tokens": int(self.trainer._total_train_tokens)}
            (folder / TOKEN_COUNT_FILE).write_text(json.dumps(count))
