"""Runs left "running" in ZenML by a process that died (SIGKILL, out of memory, a crash): filed failed, with why.

ZenML's local orchestrator runs every step in the process that started the run, so when that process is gone nothing
is left to finish the run or record its end, and the dashboard would show it running forever. The next run on the
same data dir knows which runs the dead process started (their names were written beside the pipeline lock, see
`scheduling/pipeline_lock.py`) and files each one still unfinished as failed through ZenML's own status updates: every
step still open as failed (the reason as its error), then the run, with the reason as its status reason and as run
metadata `stopped_reason`. Failed rather than stopped: stopped is what a SIGTERM or Ctrl-C leaves, with a summary of
what was done; and ZenML resumes only failed runs.
"""

from __future__ import annotations

from typing import Any

MAX_STATUS_REASON = 255  # ZenML's limit on a run's status reason


def abandoned_reason(pid: int | None, started_at: str) -> str:
    """Why the run is filed failed, short enough for ZenML's status reason."""
    started = f", started {started_at[:19]}" if started_at else ""
    reason = (
        f"killed or crashed: its process (pid {pid}{started}) is gone and never recorded the end of the run "
        "(SIGKILL, out of memory); filed failed by the next run on this data dir"
    )
    return reason[:MAX_STATUS_REASON]


def fail_abandoned_runs(run_names: list[str], reason: str, command: str = "", client: Any = None) -> list[str]:
    """Files each of these runs that is not finished as failed with `reason`; returns one line per run filed (or
    not filed: a store error is reported, never raised, so that it cannot block the run that found them)."""
    from zenml import log_metadata
    from zenml.client import Client
    from zenml.enums import ExecutionStatus
    from zenml.models import ExceptionInfo
    from zenml.orchestrators.publish_utils import publish_pipeline_run_status_update, publish_step_run_status_update

    client = client or Client()
    lines = []
    for name in run_names:
        try:
            run = client.get_pipeline_run(name)
        except KeyError:  # deleted since, or never created (the process died before ZenML made it)
            continue
        if run.status.is_finished:
            continue
        open_steps = [step_name for step_name, step in run.steps.items() if not step.status.is_finished]
        try:
            for step_name in open_steps:
                publish_step_run_status_update(
                    run.steps[step_name].id,
                    ExecutionStatus.FAILED,
                    exception_info=ExceptionInfo(traceback=f"{reason}\ncommand: {command}", message=reason),
                )
            # Requested for the run itself: ZenML computes a static run's status from its steps; a failed one wins.
            publish_pipeline_run_status_update(run.id, ExecutionStatus.FAILED, status_reason=reason)
            log_metadata({"stopped_reason": reason, "stopped_command": command}, run_id_name_or_prefix=run.id)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            lines.append(f"run {run.name} was left running by a process that is gone; could not file it failed: {exc}")
            continue
        where = f" in step {open_steps[-1]}" if open_steps else " before its first step"
        lines.append(f"run {run.name} was left running{where} by a process that is gone: filed failed")
    return lines
