"""The operator's view at the end of a run: status, counts, new artifact versions, where to look."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

INTERESTING_KEYS = (
    # feature pipeline
    "documents",
    "failed",
    "skipped",
    "not_modified",
    "changed_or_new",
    "unchanged",
    "dropped",
    "chunks",
    "tokens",
    "chunks_embedded",
    "chunks_already_stored",
    "points_in_collection",
    "samples",
    "removed",
    "llm_calls",
    "llm_retries",
    "llm_failed",
    "llm_cached",
    "llm_cost_usd",
    "contaminated_samples",
    "documents_marked",
    # training pipeline
    "instruction_train",
    "preference_train",
    "sft_eval_loss",
    "dpo_eval_loss",
    "base_eval_loss",
    "eval_loss",
    "reward_accuracy",
    "promoted",
)


def print_failed_run(message: str, console: Console | None = None) -> None:
    """The last run failed: show its steps and what each recorded (a failed crawl keeps its failure report)."""
    from zenml.client import Client

    console = console or Console()
    console.print(f"[bold red]pipeline failed:[/] {message}", highlight=False)
    runs = Client().list_pipeline_runs(sort_by="desc:created", size=1).items
    if runs:
        print_run_summary(Client().get_pipeline_run(runs[0].id), console)


def print_stopped_run(signum: int, started_at: datetime | None = None, console: Console | None = None) -> None:
    """The run was stopped by SIGTERM / Ctrl-C: one line saying where, marked stopped in ZenML with the reason.

    The signal handler has usually marked the run `stopping` already (interruption.py), so ZenML filed it as stopped;
    what it could not mark (a signal between steps) is marked here. A run created before `started_at` is not ours:
    the signal came before this run had started."""
    import signal

    from zenml import log_metadata
    from zenml.client import Client
    from zenml.enums import ExecutionStatus
    from zenml.orchestrators.publish_utils import publish_pipeline_run_status_update, publish_stopped_step_run

    from llm_engineering.application.stopped_run import describe_stopped_run
    from llm_engineering.infrastructure.interruption import stop_reason

    console = console or Console(stderr=True)
    name = signal.Signals(signum).name
    runs = Client().list_pipeline_runs(sort_by="desc:created", size=1).items
    if runs and started_at is not None and _as_utc(runs[0].created) < started_at:
        runs = []
    where, done, details = "before its first step", [], []
    if runs:
        run = Client().get_pipeline_run(runs[0].id)
        finished = (ExecutionStatus.COMPLETED, ExecutionStatus.CACHED)
        done = [step_name for step_name, step in run.steps.items() if step.status in finished]
        stopped = [step_name for step_name, step in run.steps.items() if step.status not in finished]
        reason = stop_reason(name, stopped[-1] if stopped else None)
        if not run.steps:
            reason = f"stopped by {name} before its first step"
        where = reason.removeprefix(f"stopped by {name} ")
        try:
            for step_name in stopped:  # a step the signal left "running" (a signal between ZenML's own calls)
                if not run.steps[step_name].status.is_finished:
                    publish_stopped_step_run(run.steps[step_name].id)
            if not Client().get_pipeline_run(run.id, hydrate=False).status.is_finished:
                # `stopping`, not `stopped`: ZenML computes a static run's status from its steps, and files it
                # stopped once every step it created has finished (a requested `stopped` would read "running").
                publish_pipeline_run_status_update(run.id, ExecutionStatus.STOPPING, status_reason=reason)
            log_metadata({"stopped_by": name, "stopped": reason}, run_id_name_or_prefix=run.id)
        except Exception as exc:  # noqa: BLE001 - the line below matters more than the bookkeeping
            console.print(f"(could not record the stop in ZenML: {exc})", highlight=False)
        try:
            details = describe_stopped_run(run)
        except Exception as exc:  # noqa: BLE001 - the line below matters more than the details
            details = [f"(could not read what the run kept: {exc})"]
    kept = (
        "where this one stopped:"
        if details
        else "from what was stored: stored chunks, cached LLM answers and training checkpoints are kept."
    )
    console.print(
        f"[bold yellow]stopped by {name}[/] {where}, after {len(done)} completed step(s); no later step ran and "
        f"nothing half-done was published. The next run resumes {kept}",
        highlight=False,
    )
    for line in details:  # what completed, what the stopped step kept, what the next run reuses
        console.print(f"  {line}", highlight=False, markup=False)


def _as_utc(moment: datetime) -> datetime:
    """ZenML's timestamps are UTC, naive or aware depending on the store."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_metric(value: Any) -> str:
    """A count as it is; a float with 4 significant digits (`1.531`, `0.0123`, `2.5e-05`), whole above 10,000."""
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return str(value)


def step_counts(metadata: dict[str, Any], cached: bool = False) -> list[str]:
    """`key=value` for the step metadata the summary shows, in INTERESTING_KEYS order. A step ZenML served from its
    cache sent no LLM request: its `llm_*` counts are the run's that produced the output, so it says `cached`
    instead. `llm_calls` are requests answered by the model (cache hits not included), `llm_retries` the extra
    attempts on top: together, every request sent."""
    counts = []
    for key in INTERESTING_KEYS:
        if key not in metadata or (cached and key.startswith("llm_")):
            continue
        if key in ("llm_retries", "llm_failed") and not metadata[key]:
            continue  # no news
        counts.append(f"{key}={format_metric(metadata[key])}")
    if cached and any(key.startswith("llm_") for key in metadata):
        counts.insert(0, "cached: 0 LLM requests")
    return counts


def failure_causes(metadata: dict[str, Any], most: int = 3) -> str | None:
    """`N failed: cause (count), ...; first: <its error, verbatim>` from a step's `failed_by_reason` metadata."""
    by_reason = metadata.get("failed_by_reason") or {}
    if not isinstance(by_reason, dict) or not by_reason:
        return None
    ranked = sorted(by_reason.items(), key=lambda item: -item[1])[:most]
    line = f"{sum(by_reason.values())} failed: " + ", ".join(f"{reason} ({count})" for reason, count in ranked)
    examples = metadata.get("failure_examples") or metadata.get("failures") or []
    return line + (f"; first: {examples[0]}" if examples else "")


def print_run_summary(run: Any, console: Console | None = None) -> None:
    console = console or Console()
    if run is None:
        return
    rows, warnings, failures = [], [], []
    for name, step_run in run.steps.items():
        outputs = [
            f"{artifact.name}:{artifact.version}" for artifacts in step_run.outputs.values() for artifact in artifacts
        ]
        metadata = step_run.run_metadata or {}
        cached = str(step_run.status) == "cached"
        rows.append((name, str(step_run.status), outputs, step_counts(metadata, cached=cached)))
        warnings.extend(f"{name}: {warning}" for warning in metadata.get("warnings", []))
        if not cached and (causes := failure_causes(metadata)) is not None:
            failures.append(f"{name}: {causes}")
    # One output and one count a line. On a narrow terminal (80 columns when piped) the step and output names fold;
    # a count is never wrapped or cut (rich's default overflow ended a cut one with an ellipsis: `sft_eval_loss=1.53…`).
    table = Table(title=f"run {run.name}: {run.status}", show_lines=False)
    table.add_column("step", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("outputs (artifact:version)", overflow="fold")
    table.add_column("counts", no_wrap=True)
    for name, status, outputs, counts in rows:
        table.add_row(name, status, "\n".join(outputs), "\n".join(counts))
    console.print(table)
    for warning in warnings:  # a step records what it got away with under `warnings` (e.g. an empty source)
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    for line in failures:  # the top causes of what a step could not do (crawls, generations), the first verbatim
        console.print(f"[red]failures:[/] {escape(line)}", highlight=False, soft_wrap=True)
    console.print(where_to_look(run), highlight=False, soft_wrap=True)


def where_to_look(run: Any) -> str:
    """The last line of the summary: the run in ZenML's CLI and its dashboard page (on the server that is up, else
    where `make dashboard` will serve it)."""
    from llm_engineering.infrastructure.zenml.dashboard import DEFAULT_PORT, dashboard_url, run_page, run_url

    cli = f"`zenml pipeline runs list --id {run.id}`"
    url = run_url(run)
    if url is not None:
        return f"Inspect it with {cli}, or in the dashboard: {url}"
    return (
        f"Inspect it with {cli}, or in the dashboard: `make dashboard` (`llm-engineering dashboard --port N` for "
        f"another port than {DEFAULT_PORT}), then {dashboard_url()}{run_page(run)}"
    )


def tick_summary_line(tick: Any) -> str:
    """One line per scheduler tick (a `scheduling.trigger.TickResult`): when, what happened, what ran."""
    parts = [f"tick {tick.tick} {tick.started_at:%Y-%m-%d %H:%M:%S}", tick.outcome, f"{tick.seconds:.1f}s"]
    if tick.changes:
        changed = sum(len(items) for items in tick.changes.values())
        parts.append(f"{changed} change(s) in {', '.join(sorted(tick.changes))}")
    if tick.runs:
        parts.append("runs: " + "; ".join(tick.runs))
    if tick.check_errors:
        parts.append(f"{len(tick.check_errors)} source(s) not checkable")
    if tick.error:
        parts.append(f"error: {tick.error.splitlines()[0][:200]}")
    return " | ".join(parts)


def print_tick_summary(tick: Any, console: Console | None = None) -> None:
    style = {"ran": "green", "failed": "bold red", "skipped_busy": "yellow"}.get(tick.outcome, "dim")
    line = tick_summary_line(tick)  # one line, however narrow the terminal (or a pipe's 80 columns)
    (console or Console()).print(line, style=style, highlight=False, markup=False, soft_wrap=True)
