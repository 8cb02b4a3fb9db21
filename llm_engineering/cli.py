"""`llm-engineering`: the one entry point every Make target calls."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from llm_engineering.application.run_config import ConfigError
from llm_engineering.pipeline_registry import PIPELINES, guess_pipeline

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code=2)


@app.command()
def validate(
    config: Path, pipeline: str | None = typer.Option(None, help="pipeline name; guessed from the file name")
) -> None:
    """Validate a pipeline config without running anything."""
    from llm_engineering.application.pipeline_runner import load_for

    name = pipeline or guess_pipeline(str(config))
    if name is None:
        _fail(f"{config}: cannot tell the pipeline from the file name; pass --pipeline ({', '.join(PIPELINES)})")
    try:
        load_for(name, config)
    except ConfigError as exc:
        _fail(str(exc))
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
    run_response = run_pipeline(pipeline, loaded, no_cache=no_cache)
    from llm_engineering.application.run_summary import print_run_summary

    print_run_summary(run_response)
    status = str(getattr(run_response, "status", "completed"))
    if "failed" in status.lower():
        sys.exit(1)


@app.command("preview-data")
def preview_data(
    config: Path = typer.Option(Path("configs/training.yaml"), "--config", "-c", help="training YAML"),
    count: int = typer.Option(3, "-n", help="how many training samples"),
) -> None:
    """Print tokenized training samples with the loss-carrying tokens highlighted, before any training."""
    from llm_engineering.application.pipeline_runner import load_for
    from llm_engineering.application.training.data_preview import preview_training_data

    try:
        loaded = load_for("training", config)
        preview_training_data(loaded.parameters, count, Console())
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    app()
