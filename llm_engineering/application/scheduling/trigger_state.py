"""What the trigger saw at its last successful run, persisted under the data dir so a restart does not rerun."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.scheduling.change_detection import SourceState
from llm_engineering.settings import get_settings


class TriggerState(BaseModel):
    feature_config: str
    sources: dict[str, SourceState] = {}
    last_run: str | None = None
    last_run_at: datetime | None = None


def scheduler_dir() -> Path:
    return get_settings().path("scheduler")


def state_path(feature_config: Path) -> Path:
    # One state per feature config: two schedules over different configs must not share fingerprints.
    key = hashlib.sha256(str(feature_config.resolve()).encode()).hexdigest()[:12]
    return scheduler_dir() / f"state-{feature_config.stem}-{key}.json"


def load_state(feature_config: Path) -> TriggerState:
    path = state_path(feature_config)
    if not path.is_file():
        return TriggerState(feature_config=str(feature_config.resolve()))
    return TriggerState.model_validate_json(path.read_text(encoding="utf-8"))


def save_state(feature_config: Path, state: TriggerState) -> Path:
    """Atomic: a crash mid-write leaves the previous state, never a truncated file."""
    path = state_path(feature_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(state.model_dump_json(indent=2), encoding="utf-8")
    os.replace(temporary, path)
    return path
