"""Where a training stage writes, and resuming from the last checkpoint a rerun finds there.

The folder is keyed by a fingerprint of everything that shapes the result (config, base model, dataset
identity), so a rerun of the same run after a crash resumes, and a changed run starts fresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any


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
