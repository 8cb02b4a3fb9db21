"""`llm-engineering`: validate, run and schedule the YAML-configured ZenML pipelines (every Make target calls it).

A bad input (a config that does not validate, a `--set` that does not apply, an unknown pipeline) is one
`error:` line on stderr naming the file, the field and the fix, and exit status 2, before any work starts.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from llm_engineering.application.run_config import ConfigError
from llm_engineering.pipeline_registry import PIPELINES, UnknownPipeline, get_pipeline, guess_pipeline

SCHEDULE = "schedule"  # `validate` also reads schedule configs (configs/schedule.yaml), validated as ScheduleConfig

HELP = (
    "Turn your documents into a fine-tuned, evaluated LLM with YAML-configured ZenML pipelines; offline on a CPU "
    "by default.\n\n"
    "The feature_engineering pipeline crawls folders, URLs and git repositories, cleans, chunks and embeds them "
    "into Qdrant, and generates curated instruction and preference datasets. The training pipeline fine-tunes the "
    "base model on them (SFT, then DPO or the configured stages), evaluates it, exports it and registers a ZenML "
    "model version. Each pipeline reads one YAML file in configs/; `validate` checks it without running anything, "
    "`--set` overrides one key for one run. `llm-engineering COMMAND --help` shows each command's options.\n\n"
    "Examples:\n"
    "  llm-engineering validate configs/feature_engineering.yaml\n"
    "  llm-engineering run feature_engineering -c configs/feature_engineering.yaml\n"
    "  llm-engineering validate configs/training.yaml --set stages.0.adapter.r=8\n"
    "  llm-engineering run training -c configs/training.yaml\n"
    "  llm-engineering schedule --config configs/schedule.yaml --once\n"
    "  llm-engineering lineage instruction_dataset\n"
    "  llm-engineering explore instruction_dataset --version 3\n"
    "  llm-engineering serve --production\n"
    "  llm-engineering dashboard"
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
console = Console(stderr=True)

Overrides = Annotated[
    list[str],
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override one key of the config, dotted, relative to parameters: (a number indexes a list: "
        "crawl.sources.0.path=docs); steps./settings./model. keys address the ZenML part; repeatable",
    ),
]


@app.callback()
def _main() -> None:
    # ZenML colours every console log line with ANSI codes, terminal or not; piped into a file they are noise.
    if not sys.stdout.isatty():
        os.environ.setdefault("ZENML_LOGGING_COLORS_DISABLED", "true")  # read when ZenML is imported, later


def _fail(message: str) -> NoReturn:
    """One `error:` line (several only for a config with several invalid fields) on stderr, exit status 2."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=2)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="the YAML config, e.g. configs/feature_engineering.yaml")],
    pipeline: Annotated[
        str | None,
        typer.Option(
            help=f"what the config is for: {', '.join(sorted([*PIPELINES, SCHEDULE]))}; guessed from the file name "
            "(configs/<pipeline>[-variant].yaml)"
        ),
    ] = None,
    set_: Overrides = [],  # noqa: B006 - typer reads the default, nothing mutates it
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="also print the effective values on stdout: every parameter with its default filled in and the "
            "--set overrides applied, and where each generation setting (max_new_tokens) comes from",
        ),
    ] = False,
) -> None:
    """Check a config without running anything: its parameters, `steps:` names, model references and eval-set
    files, with the same `--set` overrides `run` takes. `--show` prints what the run would use.

    A problem is an error naming the file and the field, exit status 2; an empty source folder is a warning.
    A schedule config is validated with the pipeline configs it points at (for it, `--set` keys are relative to
    its top level: schedule.cron=..., watch=[articles])."""
    from llm_engineering.application.pipeline_runner import load_for

    name = pipeline or _guess_config_kind(config)
    try:
        if name == SCHEDULE:
            _validate_schedule(config, set_, show)
            return
        if name is None:
            known = ", ".join(sorted([*PIPELINES, SCHEDULE]))
            _fail(f"{config}: cannot tell the pipeline from the file name; pass --pipeline ({known})")
        _known_to_validate(name)
        loaded = load_for(name, config, set_)
    except ConfigError as exc:
        _fail(str(exc))
    _warn(loaded.warnings)
    console.print(f"[green]ok[/] {escape(str(config))} is a valid {name} config", highlight=False, soft_wrap=True)
    if show:
        _show(config, loaded.parameters)


def _show(config: Path, parameters: object) -> None:
    from llm_engineering.application.effective_config import render_effective

    sys.stdout.write(f"# {config}: the effective values\n{render_effective(parameters)}")  # type: ignore[arg-type]


def _guess_config_kind(config: Path) -> str | None:
    """configs/<pipeline>[-variant].yaml (or schedule[-variant].yaml) -> its pipeline, or `schedule`."""
    if config.stem.split("-", 1)[0] == SCHEDULE:
        return SCHEDULE
    return guess_pipeline(str(config))


def _known_to_validate(name: str) -> None:
    """UnknownPipeline unless `validate` knows `name`: a pipeline, or `schedule`."""
    if name != SCHEDULE and name not in PIPELINES:
        raise UnknownPipeline(name, [*PIPELINES, SCHEDULE])


def _validate_schedule(config: Path, overrides: list[str], show: bool = False) -> None:
    from llm_engineering.application.scheduling.schedule_config import load_schedule

    loaded = load_schedule(config, overrides)  # also validates the pipeline configs it points at
    training = loaded.training
    _warn(loaded.feature.warnings + (training.warnings if training else []))
    console.print(f"[green]ok[/] {escape(str(config))} is a valid schedule config", highlight=False, soft_wrap=True)
    if show:
        for pointed in (loaded.feature, training):
            if pointed is not None:
                _show(pointed.path, pointed.parameters)


def _pipelines_help() -> str:
    width = max(len(name) for name in PIPELINES)
    lines = "\n".join(f"  {name:<{width}}  {entry.summary}" for name, entry in PIPELINES.items())
    return f"Pipelines:\n{lines}"


@app.command(
    help="Validate the config (as `validate` does), then run the pipeline with ZenML; at the end, a table of its "
    "steps, their output artifact versions and counts.\n\n"
    + _pipelines_help()
    + "\n\nExample: llm-engineering run training -c configs/training.yaml --no-cache"
)
def run(
    pipeline: Annotated[str, typer.Argument(help=f"one of: {', '.join(PIPELINES)}")],
    config: Path = typer.Option(..., "--config", "-c", help="YAML run config, e.g. configs/<pipeline>.yaml"),
    set_: Overrides = [],  # noqa: B006 - typer reads the default, nothing mutates it
    no_cache: bool = typer.Option(False, "--no-cache", help="disable ZenML step caching"),
) -> None:
    from llm_engineering.application.pipeline_runner import load_for, run_pipeline

    try:
        if pipeline == SCHEDULE:
            raise UnknownPipeline(pipeline)
        get_pipeline(pipeline)
        loaded = load_for(pipeline, config, set_)
    except UnknownPipeline as exc:
        hint = f" (a schedule config runs with `llm-engineering schedule --config {config}`)"
        _fail(str(exc) + (hint if pipeline == SCHEDULE else ""))
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
    set_: Overrides = [],  # noqa: B006 - typer reads the default, nothing mutates it
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
def serve(
    model_version: str | None = typer.Option(
        None, "--model-version", help="a version's number or name (default: the production version)"
    ),
    production: bool = typer.Option(False, "--production", help="the version in production (the default)"),
    model: str = typer.Option("llm-engineering-assistant", "--model", help="the ZenML model (training's model.name)"),
    host: str = typer.Option("127.0.0.1", help="the address to listen on; loopback only by default"),
    port: int = typer.Option(8080, help="the port (checked to be free before anything starts)"),
    quantization: str | None = typer.Option(
        None, help="which exported GGUF, e.g. f16 (default: the first of export.gguf.quantizations)"
    ),
    backend: str = typer.Option("auto", help="auto (vLLM where a GPU and vLLM are, else llama_cpp), llama_cpp, vllm"),
    n_ctx: int = typer.Option(2048, "--n-ctx", help="the context window the server allocates"),
    detach: bool = typer.Option(False, "--detach", help="run in the background (make serve); --stop stops it"),
    stop: bool = typer.Option(False, "--stop", help="stop the server --detach started (make serve-stop)"),
) -> None:
    """Serve a trained model version over an OpenAI-compatible API (/v1/chat/completions, /v1/models), under the
    model's name: llama.cpp's server (llama-cpp-python) on its exported GGUF file on a CPU, vLLM on its merged
    safetensors where a GPU and vLLM are. configs/feature_engineering-self.yaml generates the next datasets with it.

    Example: llm-engineering serve --model-version 3 --port 8081"""
    from llm_engineering.application import serving
    from llm_engineering.infrastructure import model_server
    from llm_engineering.settings import get_settings

    state_path = get_settings().path("serve", "server.json")
    if stop:
        console.print(model_server.stop_detached(state_path), highlight=False)
        return
    if production and model_version is not None:
        _fail("give --model-version or --production, not both")
    if backend not in ("auto", "llama_cpp", "vllm"):
        _fail(f"--backend: {backend!r} is not one of auto, llama_cpp, vllm")
    running = model_server.read_state(state_path) if detach else None
    if running is not None:
        _fail(f"a server started by `make serve` is already running at {running['url']} ({running['serves']}): "
              "`make serve-stop` first")  # fmt: skip
    chosen = serving.choose_backend(backend)  # type: ignore[arg-type]
    try:
        if (problem := serving.backend_problem(chosen)) is not None:
            raise serving.ServeError(problem)
        target = serving.find_target(model, model_version, quantization, require_gguf=chosen == "llama_cpp")
        spec = serving.server_spec(target, chosen, host, port, n_ctx)
        console.print(f"serving {escape(target.describe())} with {chosen} at {spec.url}/v1 ...", highlight=False)
        log = get_settings().path("serve", "server.log") if detach else None
        server = model_server.start(spec, log, detach=detach)
    except (serving.ServeError, model_server.ServerError) as exc:
        _fail(str(exc))
    if detach:
        model_server.write_state(state_path, server, target.describe())
        console.print(f"ready: {spec.url}/v1 (model {target.model!r}; log {log}); stop it with `make serve-stop`")
        typer.echo(f"{spec.url}/v1")
        return
    console.print(f"ready: {spec.url}/v1 (model {target.model!r}); Ctrl-C stops it")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
    if server.process.returncode not in (0, -2, -15):
        sys.exit(1)


@app.command()
def lineage(
    target: str = typer.Argument(..., help="artifact[:version], e.g. instruction_dataset:3, or model:<name>[:version]"),
    max_sources: int | None = typer.Option(
        None, "--max-sources", help="documents listed per artifact (default: a dataset's all, other artifacts 10)"
    ),
    markdown: bool = typer.Option(False, "--markdown", help="print markdown (as in the model card)"),
) -> None:
    """Print where an artifact or model version came from. A dataset version: the run that produced it and exactly
    the documents its samples come from (samples and chunks per document); other artifacts: their chain of steps
    and runs back to the crawled sources; a model version: its stage, metrics, runs and the datasets it read."""
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
def explore(
    artifact: str = typer.Argument(..., help="a dataset artifact: instruction_dataset or preference_dataset"),
    version: str | None = typer.Option(None, "--version", help="its version (default: the latest)"),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="the HTML report (default: exploration-<artifact>-v<version>.html); the review CSV is written beside it "
        "(<name>.review.csv)",
    ),
    config: Path = typer.Option(
        Path("configs/feature_engineering.yaml"),
        "--config",
        "-c",
        help="feature config whose embedding, qdrant and datasets.exploration blocks explore a version now",
    ),
    fresh: bool = typer.Option(False, "--fresh", help="explore again instead of showing what the feature run stored"),
    set_: Overrides = [],  # noqa: B006 - typer reads the default, nothing mutates it
) -> None:
    """Print a dataset version's exploration (summary statistics and the cluster table) and write its HTML report
    and review sample. A version the feature run explored shows that exploration; an older one is explored now.

    Review the CSV (verdict: accept or reject, and a reason), then `llm-engineering review import FILE`: the next
    feature run leaves the rejected samples out of the next version."""
    from llm_engineering.application.exploration.lookup import exploration_of
    from llm_engineering.application.exploration.report_html import render_exploration, render_exploration_page
    from llm_engineering.application.exploration.review import write_review_csv
    from llm_engineering.application.exploration.review_import import UnknownDatasetVersion
    from llm_engineering.application.exploration.terminal import print_exploration
    from llm_engineering.application.pipeline_runner import load_for

    try:
        exploration = exploration_of(
            artifact, version, lambda: load_for("feature_engineering", config, set_).parameters, fresh
        )
    except (UnknownDatasetVersion, ConfigError) as exc:
        _fail(str(exc))
    print_exploration(exploration, Console(width=max(Console().width, 120)))
    html = output or Path(f"exploration-{exploration.dataset}-v{exploration.version}.html")
    review = html.with_suffix(".review.csv")
    if exploration.review_sample:
        write_review_csv(exploration.review_sample, review)
    html.parent.mkdir(parents=True, exist_ok=True)
    section = render_exploration(exploration, str(review) if exploration.review_sample else None)
    html.write_text(render_exploration_page([section]), encoding="utf-8")
    console.print(f"report: [bold]{escape(str(html))}[/]", highlight=False, soft_wrap=True)
    if exploration.review_sample:
        console.print(f"review sample: [bold]{escape(str(review))}[/] ({len(exploration.review_sample)} samples); "
                      f"then `llm-engineering review import {escape(str(review))}`",
                      highlight=False, soft_wrap=True)  # fmt: skip


review_app = typer.Typer(no_args_is_help=True, help="Record the verdicts of a reviewed review sample.")
app.add_typer(review_app, name="review")


@review_app.command("import")
def review_import(
    file: Path = typer.Argument(..., help="a review CSV (from `explore` or the feature run) with verdicts filled in"),
) -> None:
    """Record a reviewed CSV's verdicts (accept / reject, with a reason) on the dataset version it was drawn from, and
    in the review_verdicts artifact: the next feature run leaves the rejected samples out of the next version, each
    counted as `review: <reason>`. Importing the same file again changes nothing."""
    from llm_engineering.application.exploration.review import ReviewFileError
    from llm_engineering.application.exploration.review_import import UnknownDatasetVersion, import_review

    try:
        result = import_review(file)
    except (ReviewFileError, UnknownDatasetVersion) as exc:
        _fail(str(exc))
    for reviewed in result.versions:
        reasons = ", ".join(f"{reason or 'no reason'}: {n}" for reason, n in reviewed.rejected_by_reason.items())
        line = f"{reviewed.dataset} version {reviewed.version}: {reviewed.accepted} accepted, {reviewed.rejected} "
        line += "rejected"
        console.print(line + (f" ({escape(reasons)})" if reasons else ""), highlight=False)
    if result.new_verdicts:
        console.print(f"recorded in review_verdicts version {result.verdicts_version} ({result.new_verdicts} new "
                      "verdicts); the next feature run leaves the rejected samples out", highlight=False)  # fmt: skip
    else:
        console.print(f"already recorded (review_verdicts version {result.verdicts_version}): nothing new",
                      highlight=False)  # fmt: skip


@app.command()
def schedule(
    config: Path = typer.Option(Path("configs/schedule.yaml"), "--config", "-c", help="schedule YAML"),
    once: bool = typer.Option(False, "--once", help="one check (and run, if changed), then exit"),
    max_ticks: int | None = typer.Option(None, "--max-ticks", help="stop after N checks"),
    orchestrator_schedule: bool = typer.Option(
        False, "--orchestrator-schedule", help="register a ZenML Schedule on the active orchestrator instead"
    ),
) -> None:
    """Rerun the feature pipeline (and training) when watched sources change, on a cron or interval; the runs it
    starts are tagged `scheduled` in ZenML."""
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
    from llm_engineering.application.scheduling.trigger import run_trigger

    try:
        with _trigger_log_shown():
            results = run_trigger(loaded, max_ticks=1 if once else max_ticks, on_tick=print_tick_summary)
    except KeyboardInterrupt:
        console.print("trigger stopped")
        return
    if once and results and results[-1].outcome == "failed":
        sys.exit(1)


@contextmanager
def _trigger_log_shown() -> Iterator[None]:
    """The trigger's own lines (what changed, what ran), once each, with time and level, on stderr, plain when
    piped. Not propagated: ZenML's console handler on the root logger would print every one a second time, in ANSI
    colours. The pipelines' own logs (inside steps) still go through ZenML, which stores them with the run."""
    from rich.logging import RichHandler

    from llm_engineering.application.scheduling.trigger import logger

    handler = RichHandler(console=console, show_path=False)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _one_line_paragraphs(text: str) -> str:
    """Help as typer's rich mode shows it best: each prose paragraph on one line (rich wraps it to the terminal),
    paragraphs with indented lines (examples, lists) as written, `[...]` shown literally rather than as markup."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    kept = [
        paragraph if "\n  " in paragraph else " ".join(line.strip() for line in paragraph.splitlines())
        for paragraph in paragraphs
    ]
    return escape("\n\n".join(kept))


for _command in app.registered_commands:
    _command.help = _one_line_paragraphs(_command.help or inspect.getdoc(_command.callback) or "")


if __name__ == "__main__":
    app()
