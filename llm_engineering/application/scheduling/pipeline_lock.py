"""One pipeline run at a time per project: every trigger takes the same file lock under the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from llm_engineering.settings import get_settings


class PipelineBusy(RuntimeError):
    """Another trigger (or process) holds the lock: this tick is skipped, the next one tries again."""


def lock_path() -> Path:
    return get_settings().path("scheduler", "pipeline.lock")


@contextmanager
def pipeline_lock(timeout_seconds: float = 0) -> Iterator[Path]:
    """Held for the whole check-run-commit sequence, so two triggers never run or commit at once."""
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: the lock belongs to the process, as the trigger is; a fresh object per tick,
    # so a second trigger in the same process (tests) contends like a second process would.
    lock = FileLock(path, thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=timeout_seconds)
    except Timeout as exc:
        raise PipelineBusy(f"another trigger holds {path}") from exc
    try:
        yield path
    finally:
        lock.release()
