"""Resuming picks the newest *complete* checkpoint: a kill while the Trainer saves leaves a half-written one."""

from __future__ import annotations

import json
from pathlib import Path

from llm_engineering.application.training.checkpoints import TOKEN_COUNT_FILE, last_checkpoint, saved_token_count


def checkpoint(root: Path, step: int, *, weights: bool = True, state: str | None = '{"global_step": 0}') -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if weights:
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    return folder


def test_half_written_checkpoints_are_skipped_for_the_newest_complete_one(tmp_path: Path) -> None:
    checkpoint(tmp_path, 9)
    complete = checkpoint(tmp_path, 10)  # newest complete one; numeric order, not "checkpoint-9" > "checkpoint-10"
    checkpoint(tmp_path, 12, state=None)  # killed after the weights, before trainer_state.json
    checkpoint(tmp_path, 14, state='{"global_step": 14, "log_hi')  # killed while writing trainer_state.json
    checkpoint(tmp_path, 16, weights=False)  # no model/adapter weights
    (tmp_path / "checkpoint-18").mkdir()  # killed right after the folder was made
    (tmp_path / "checkpoint-20").write_text("not a folder")

    assert last_checkpoint(tmp_path) == str(complete)


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    assert last_checkpoint(tmp_path / "missing") is None
    assert last_checkpoint(tmp_path) is None
    checkpoint(tmp_path, 2, state=None)
    assert last_checkpoint(tmp_path) is None
    (tmp_path / "final").mkdir()
    checkpoint(tmp_path, 4).rename(tmp_path / "checkpoint-4-old")  # complete, but not named checkpoint-N
    assert last_checkpoint(tmp_path) is None


def test_the_token_count_a_resume_continues_from(tmp_path: Path) -> None:
    """TRL's count of training tokens, saved beside the checkpoint; one written without it (a kill between the
    trainer's save and ours) falls back to the last count the trainer logged, and to 0 when it logged none."""
    history = {"global_step": 3, "log_history": [{"step": 1, "num_tokens": 160.0}, {"step": 2, "num_tokens": 330.0}]}
    saved = checkpoint(tmp_path, 3, state=json.dumps(history))
    (saved / TOKEN_COUNT_FILE).write_text('{"total_train_tokens": 497}')
    assert saved_token_count(saved) == 497
    assert saved_token_count(checkpoint(tmp_path, 4, state=json.dumps(history))) == 330
    assert saved_token_count(checkpoint(tmp_path, 5)) == 0
