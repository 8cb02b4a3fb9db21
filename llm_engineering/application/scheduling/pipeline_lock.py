"""One pipeline run at a time per data dir: every run and every trigger tick takes the same file lock under it.

Embedded Qdrant and the response cache belong to one process at a time: a second run on the same data dir would
otherwise get as far as `embed_and_load` and fail there. The lock is taken before any work, and its holder (pid,
command, start time) is written beside it so the refusal names who has it. It is re-entrant within one thread:
a trigger holds it around check-run-commit, and the run it starts takes it again without waiting on itself.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from llm_engineering.settings import get_settings

_held = threading.local()  # path -> depth, for this thread


class PipelineBusy(RuntimeError):
    """Another run (or trigger) holds the data dir; the message names it and what to do."""


def lock_path() -> Path:
    return get_settings().path("scheduler", "pipeline.lock")


def holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder.json")


def describe_holder(path: Path) -> str:
    try:
        holder = json.loads(holder_path(path).read_text())
    except (OSError, ValueError):
        return "another process"
    return f"pid {holder.get('pid')} (`{holder.get('command')}`, started {holder.get('started_at')})"


@contextmanager
def pipeline_lock(timeout_seconds: float = 0) -> Iterator[Path]:
    """Held for the whole run (or the trigger's check-run-commit sequence)."""
    path = lock_path()
    depths: dict[Path, int] = _held.__dict__.setdefault("depths", {})
    if depths.get(path):
        depths[path] += 1
        try:
            yield path
        finally:
            depths[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # thread_local=False: the lock belongs to the process; a fresh object per use, so a second trigger in the same
    # process (another thread, as in tests) contends like a second process would.
    lock = FileLock(path, thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=timeout_seconds)
    except Timeout as exc:
        raise PipelineBusy(
            f"the data dir {path.parent.parent} is in use by {describe_holder(path)}, which holds {path}: one run at a "
            "time per data dir "
            f"(embedded Qdrant and the LLM cache are single-process). Wait for it to finish, stop it, or set "
            f"LLM_ENGINEERING_DATA_DIR to another folder"
        ) from exc
    holder = {"pid": os.getpid(), "command": " ".join(sys.argv), "started_at": datetime.now(UTC).isoformat()}
    holder_path(path).write_text(json.dumps(holder))
    depths[path] = 1
    try:
        yield path
    finally:
        depths.pop(path, None)
        lock.release()
