"""Where a training stage writes, and resuming from the last checkpoint a rerun finds there.

The folder is keyed by a fingerprint of everything that shapes the result (config, base model, dataset
identity), so a rerun of the same run after a crash resumes, and a changed run starts fresh.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def fingerprint(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stage_folder(root: Path, stage: str, key: str) -> Path:
    folder = root / f"{stage}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
