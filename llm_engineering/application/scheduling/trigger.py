"""The local trigger: on each tick, check the watched sources; run the pipelines only when something changed.

A tick holds the project's pipeline lock from the check to the state commit, so two triggers never run the
pipeline twice at once. The new fingerprints are committed only after every configured pipeline succeeded:
a failed run is logged and retried on the next tick, and the trigger keeps running.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel

from llm_engineering.application.pipeline_runner import run_pipeline
from llm_engineering.application.scheduling.change_detection import SourceCheck, check_source
from llm_engineering.application.scheduling.pipeline_lock import PipelineBusy, pipeline_lock
from llm_engineering.application.scheduling.schedule_config import LoadedSchedule
from llm_engineering.application.scheduling.trigger_state import load_state, save_state, scheduler_dir
from llm_engineering.domain.config.schedule import ScheduleTiming

logger = logging.getLogger("llm_engineering.scheduler")

TickOutcome = Literal["unchanged", "ran", "failed", "skipped_busy"]
SCHEDULED_TAG = "scheduled"  # on every run the trigger starts, to tell them from hand-started ones in ZenML


class TickResult(BaseModel):
    tick: int
    started_at: datetime
    finished_at: datetime
    outcome: TickOutcome
    changes: dict[str, list[str]] = {}
    check_errors: list[str] = []
    runs: list[str] = []
    error: str | None = None

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def _now() -> datetime:
    return datetime.now().astimezone()


def _run(pipeline_name: str, loaded: Any) -> str:
    run = run_pipeline(pipeline_name, loaded, tags=[SCHEDULED_TAG])
    status = str(getattr(run, "status", "completed"))
    if "failed" in status.lower():
        raise RuntimeError(f"{pipeline_name} run {run.name} {status}")
    return f"{pipeline_name}: {run.name} ({status})"


def _check_sources(schedule: LoadedSchedule, previous: dict) -> list[SourceCheck]:
    http = schedule.feature_parameters.crawl.http
    return [check_source(source, previous.get(source.name), http) for source in schedule.watched_sources]


def run_tick(schedule: LoadedSchedule, tick: int = 1) -> TickResult:
    """One check (and, on change, one run of the configured pipelines). Never raises for a pipeline failure."""
    started = _now()
    result: dict[str, Any] = {"tick": tick, "started_at": started}
    try:
        with pipeline_lock(schedule.config.lock_timeout_seconds):
            result.update(_check_and_run(schedule))
    except PipelineBusy as exc:
        logger.warning("tick %d: skipped, %s (a run is in progress; the next tick checks again)", tick, exc)
        result.update(outcome="skipped_busy", error=str(exc))
    tick_result = TickResult(**result, finished_at=_now())
    _append_history(tick_result)
    return tick_result


def _check_and_run(schedule: LoadedSchedule) -> dict[str, Any]:
    feature_config = schedule.feature.path
    state = load_state(feature_config)
    checks = _check_sources(schedule, state.sources)
    changes = {check.name: check.changes for check in checks if check.changes}
    errors = [error for check in checks for error in check.errors]
    for error in errors:
        logger.warning("could not check %s", error)
    if not changes:
        logger.info("checked %d source(s): no change", len(checks))
        # Only cheap-check caches (mtimes, ETags) moved; the content fingerprints are the same.
        state.sources.update({check.name: check.state for check in checks})
        save_state(feature_config, state)
        return {"outcome": "unchanged", "check_errors": errors}
    for name, items in changes.items():
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        logger.info("source %s changed: %s%s", name, "; ".join(items[:5]), more)
    runs: list[str] = []
    try:
        runs.append(_run("feature_engineering", schedule.feature))
        logger.info("ran %s", runs[-1])
        training = schedule.config.training_pipeline
        if schedule.training is not None and training is not None and training.run_after_feature:
            runs.append(_run("training", schedule.training))
            logger.info("ran %s", runs[-1])
    except Exception as exc:  # the trigger outlives any pipeline failure; the next tick retries
        logger.error("pipeline run failed, fingerprints not committed; retrying next tick: %s", exc)
        return {"outcome": "failed", "changes": changes, "check_errors": errors, "runs": runs, "error": str(exc)}
    state.sources.update({check.name: check.state for check in checks})
    state.last_run, state.last_run_at = runs[0], _now()
    save_state(feature_config, state)
    return {"outcome": "ran", "changes": changes, "check_errors": errors, "runs": runs}


def _append_history(result: TickResult) -> None:
    """`<data_dir>/scheduler/ticks.jsonl`: one line per tick, for whoever asks later what the trigger did."""
    path = scheduler_dir() / "ticks.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(result.model_dump(mode="json")) + "\n")


def seconds_until_next_tick(timing: ScheduleTiming, tick_started: datetime, now: datetime) -> float:
    if timing.cron is not None:
        upcoming = croniter(timing.cron, now).get_next(datetime)
        return max(0.0, (upcoming - now).total_seconds())
    assert timing.interval_seconds is not None
    return max(0.0, (tick_started + timedelta(seconds=timing.interval_seconds) - now).total_seconds())


def run_trigger(
    schedule: LoadedSchedule,
    *,
    max_ticks: int | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TickResult]:
    """Checks at start, then on the schedule, until `max_ticks` (forever when None). Returns the last 100 ticks."""
    timing = schedule.config.schedule
    logger.info("trigger started: %s, watching %s", timing.describe(), [s.name for s in schedule.watched_sources])
    results: deque[TickResult] = deque(maxlen=100)
    tick = 0
    while max_ticks is None or tick < max_ticks:
        tick += 1
        result = run_tick(schedule, tick)
        results.append(result)
        if on_tick is not None:
            on_tick(result)
        if max_ticks is not None and tick >= max_ticks:
            break
        sleep(seconds_until_next_tick(timing, result.started_at, _now()))
    return list(results)
