"""`llm-engineering`: the one entry point every Make target calls."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from llm_engineering.application.run_config import ConfigError
from llm_engineering.pipeline_registry import PIPELINES, guess_pipeline

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code=2)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


@app.command()
def validate(
    config: Path, pipeline: str | None = typer.Option(None, help="pipeline name; guessed from the file name")
) -> None:
    """Validate a pipeline config without running anything: the parameters, `steps:` names, model references,
    eval-set files; empty source folders are warnings (README, Configuration)."""
    from llm_engineering.application.pipeline_runner import load_for

    if pipeline is None and config.stem.split("-", 1)[0] == "schedule":
        from llm_engineering.application.scheduling.schedule_config import load_schedule

        try:
            loaded_schedule = load_schedule(config)  # also validates the pipeline configs it points at
        except ConfigError as exc:
            _fail(str(exc))
        training = loaded_schedule.training
        _warn(loaded_schedule.feature.warnings + (training.warnings if training else []))
        console.print(f"[green]ok[/] {config} is a valid schedule config", highlight=False)
        return
    name = pipeline or guess_pipeline(str(config))
    if name is None:
        _fail(f"{config}: cannot tell the pipeline from the file name; pass --pipeline ({', '.join(PIPELINES)})")
    try:
        loaded = load_for(name, config)
    except ConfigError as exc:
        _fail(str(exc))
    _warn(loaded.warnings)
    console.print(f"[green]ok[/] {config} is a valid {name} config", highlight=False)


@app.command()
def run(
    pipeline: str,
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config"),
    set_: list[str] = typer.Option([], "--set", help="override: dotted.key=value (relative to parameters:)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="disable ZenML step caching"),
) -> None:
    """Validate the config, then run the pipeline with ZenML."""
    from llm_engineering.application.pipeline_runner import load_for, run_pipeline

    if pipeline not in PIPELINES:
        _fail(f"unknown pipeline {pipeline!r}; known: {', '.join(sorted(PIPELINES))}")
    try:
        loaded = load_for(pipeline, config, set_)
    except ConfigError as exc:
        _fail(str(exc))
    from llm_engineering.application.run_summary import print_failed_run, print_run_summary, print_stopped_run
    from llm_engineering.application.scheduling.pipeline_lock import PipelineBusy
    from llm_engineering.infrastructure.interruption import recording_signals

    received: list[int] = []  # SIGTERM / SIGINT during the run; the first one names the stop
    started_at = datetime.now(UTC)
    try:
        with recording_signals() as received:
            run_response = run_pipeline(pipeline, loaded, no_cache=no_cache)
    except (ValueError, PipelineBusy) as exc:  # raised before any step ran: composing, or the data dir is in use
        _fail(str(exc))
    except BaseException as exc:  # a failed step (RuntimeError), or an interruption by SIGTERM / Ctrl-C
        if received and not isinstance(exc, SystemExit):
            print_stopped_run(received[0], started_at)
            sys.exit(128 + received[0])
        if not isinstance(exc, RuntimeError):
            raise
        # ZenML has already logged the failing step's traceback; the user needs what failed and where to look.
        print_failed_run(str(exc))
        sys.exit(1)
    if received:  # the signal came after the last step had started and it finished anyway
        print_stopped_run(received[0], started_at)
        sys.exit(128 + received[0])
    print_run_summary(run_response)
    status = str(getattr(run_response, "status", "completed"))
    if "failed" in status.lower():
        sys.exit(1)


@app.command("preview-data")
def preview_data(
    config: Path = typer.Option(Path("configs/training.yaml"), "--config", "-c", help="training YAML"),
    count: int = typer.Option(3, "-n", help="how many training samples"),
    set_: list[str] = typer.Option([], "--set", help="override: dotted.key=value (relative to parameters:)"),
) -> None:
    """Print tokenized training samples with the loss-carrying tokens highlighted, before any training."""
    from llm_engineering.application.pipeline_runner import load_for
    from llm_engineering.application.training.data_preview import preview_training_data

    try:
        loaded = load_for("training", config, set_)
        preview_training_data(loaded.parameters, count, Console())
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))


@app.command()
def dashboard(
    stop: bool = typer.Option(False, "--stop", help="stop the local server instead"),
    port: int = typer.Option(8237, help="port of the local ZenML server"),
) -> None:
    """Start the local ZenML server and dashboard (offline, background) and print its URL; --stop stops it."""
    from llm_engineering.infrastructure.zenml.dashboard import DashboardError, start_dashboard, stop_dashboard

    try:
        if stop:
            console.print(stop_dashboard(), highlight=False)
            return
        url = start_dashboard(port=port)
    except DashboardError as exc:
        _fail(str(exc))
    console.print(f"ZenML dashboard: [bold]{url}[/] (runs, artifacts, lineage); stop it with `make dashboard-stop`")
    typer.echo(url)


@app.command()
def lineage(
    target: str = typer.Argument(..., help="artifact[:version] or model:<name>[:version]"),
    max_sources: int = typer.Option(10, "--max-sources", help="raw documents listed per artifact"),
    markdown: bool = typer.Option(False, "--markdown", help="print markdown (as in the model card)"),
) -> None:
    """Print where an artifact or model version came from: steps, runs, datasets, chunks, documents, sources."""
    from llm_engineering.application.lineage import LineageError, lineage_for
    from llm_engineering.application.lineage_rendering import lineage_markdown, lineage_tree

    try:
        result = lineage_for(target, max_sources)
    except LineageError as exc:
        _fail(str(exc))
    if markdown:
        typer.echo(lineage_markdown(result))
    else:
        Console(width=max(Console().width, 160)).print(lineage_tree(result))


@app.command()
def schedule(
    config: Path = typer.Option(Path("configs/schedule.yaml"), "--config", "-c", help="schedule YAML"),
    once: bool = typer.Option(False, "--once", help="one check (and run, if changed), then exit"),
    max_ticks: int | None = typer.Option(None, "--max-ticks", help="stop after N checks"),
    orchestrator_schedule: bool = typer.Option(
        False, "--orchestrator-schedule", help="register a ZenML Schedule on the active orchestrator instead"
    ),
) -> None:
    """Rerun the feature pipeline (and training) when watched sources change, on a cron or interval."""
    import logging

    from llm_engineering.application.run_summary import print_tick_summary
    from llm_engineering.application.scheduling.schedule_config import load_schedule

    try:
        loaded = load_schedule(config)
    except ConfigError as exc:
        _fail(str(exc))
    if orchestrator_schedule:
        from llm_engineering.application.scheduling.orchestrator_schedule import (
            SchedulingUnsupported,
            schedule_on_orchestrator,
        )

        try:
            schedule_on_orchestrator(loaded)
        except SchedulingUnsupported as exc:
            _fail(str(exc))
        console.print(f"registered {loaded.config.schedule.describe()} on the active orchestrator", highlight=False)
        return
    from rich.logging import RichHandler

    from llm_engineering.application.scheduling.trigger import run_trigger

    package_logger = logging.getLogger("llm_engineering")
    package_logger.setLevel(logging.INFO)
    if not any(isinstance(handler, RichHandler) for handler in package_logger.handlers):
        package_logger.addHandler(RichHandler(console=console, show_path=False))
    try:
        results = run_trigger(loaded, max_ticks=1 if once else max_ticks, on_tick=print_tick_summary)
    except KeyboardInterrupt:
        console.print("trigger stopped")
        return
    if once and results and results[-1].outcome == "failed":
        sys.exit(1)


if __name__ == "__main__":
    app()
