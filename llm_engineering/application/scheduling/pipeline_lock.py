"""One pipeline run at a time per data dir: every run and every trigger tick takes the same file lock under it.

Embedded Qdrant and the response cache belong to one process at a time: a second run on the same data dir would
otherwise get as far as `embed_and_load` and fail there. The lock is taken before any work, and its holder (pid,
command, start time, and the runs it starts) is written beside it so the refusal names who has it. It is re-entrant
within one thread: a trigger holds it around check-run-commit, and the run it starts takes it again without waiting
on itself.

A clean release removes the holder file. One still there when the lock is next taken was left by a process that died
holding it (SIGKILL, out of memory, a crash): it is set aside as abandoned, so that the next run can file the runs that
process left "running" in ZenML as failed (`pipeline_runner.run_pipeline`).
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
from pydantic import BaseModel

from llm_engineering.settings import get_settings

_held = threading.local()  # path -> depth, for this thread


class PipelineBusy(RuntimeError):
    """Another run (or trigger) holds the data dir; the message names it and what to do."""


class LockHolder(BaseModel):
    """The process holding the lock, as written beside it, and the ZenML runs it started while holding it."""

    pid: int | None = None
    command: str = ""
    started_at: str = ""
    runs: list[str] = []


def lock_path() -> Path:
    return get_settings().path("scheduler", "pipeline.lock")


def holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder.json")


def abandoned_path(path: Path) -> Path:
    return path.with_name(path.name + ".abandoned.json")


def _read_holder(path: Path) -> LockHolder | None:
    try:
        return LockHolder.model_validate_json(holder_path(path).read_text())
    except (OSError, ValueError):
        return None


def _set_aside_abandoned(path: Path) -> None:
    """Called with the lock just taken: a holder file still there belongs to a process that died holding it."""
    left = _read_holder(path)
    if left is None:
        return
    holders = abandoned_holders() + [left]
    abandoned_path(path).write_text(json.dumps([holder.model_dump() for holder in holders]))


def abandoned_holders() -> list[LockHolder]:
    """The holders that died holding the lock since their runs were last filed (see `forget_abandoned_holders`)."""
    try:
        return [LockHolder.model_validate(item) for item in json.loads(abandoned_path(lock_path()).read_text())]
    except (OSError, ValueError):
        return []


def forget_abandoned_holders() -> None:
    abandoned_path(lock_path()).unlink(missing_ok=True)


def record_run(run_name: str) -> None:
    """Adds a run this process is about to start to its holder file (the caller holds the lock)."""
    path = lock_path()
    holder = _read_holder(path) or LockHolder(pid=os.getpid(), command=" ".join(sys.argv))
    holder.runs.append(run_name)
    holder_path(path).write_text(holder.model_dump_json())


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
    try:
        _set_aside_abandoned(path)
        holder = LockHolder(pid=os.getpid(), command=" ".join(sys.argv), started_at=datetime.now(UTC).isoformat())
        holder_path(path).write_text(holder.model_dump_json())
    except BaseException:
        lock.release()
        raise
    depths[path] = 1
    try:
        yield path
    finally:
        depths.pop(path, None)
        holder_path(path).unlink(missing_ok=True)  # a clean release: nothing of this process is left running
        lock.release()
