"""The end-of-run table shows every metric in full, however narrow the terminal (a pipe is 80 columns)."""

from __future__ import annotations

from typing import Annotated

from rich.console import Console
from zenml import log_metadata, pipeline, step
from zenml.client import Client

from llm_engineering.application.run_summary import format_metric, print_run_summary, step_counts
from tests.conftest import PROJECT_ROOT

METRICS = {
    "instruction_train": 118,
    "preference_train": 96,
    "sft_eval_loss": 1.5312345678,
    "dpo_eval_loss": 0.69314718056,
    "base_eval_loss": 2.0000000001,
    "reward_accuracy": 0.8125,
    "llm_cost_usd": 0.000012346,
    "promoted": True,
}


@step
def train_with_a_long_named_step_for_the_summary() -> Annotated[int, "trained_model_with_a_long_artifact_name"]:
    log_metadata(METRICS)
    return 1


@pipeline(enable_cache=False)
def metrics_only() -> None:
    train_with_a_long_named_step_for_the_summary()


def test_floats_have_four_significant_digits_and_counts_stay_whole():
    assert [format_metric(value) for value in (1.5312345678, 0.000012346, 123456.7, 42, True, "x")] == [
        "1.531",
        "1.235e-05",
        "123457",
        "42",
        "True",
        "x",
    ]
    assert step_counts({"sft_eval_loss": 1.5312345678, "unrelated": 3, "instruction_train": 118}) == [
        "instruction_train=118",
        "sft_eval_loss=1.531",
    ]


def test_a_real_run_summary_prints_every_metric_whole_at_80_columns(data_dir):
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))  # as `llm-engineering run` does
    run = Client().get_pipeline_run(metrics_only().id)
    console = Console(record=True, width=80)
    print_run_summary(run, console)
    text = console.export_text()
    assert "…" not in text
    for expected in (
        "instruction_train=118",
        "preference_train=96",
        "sft_eval_loss=1.531",
        "dpo_eval_loss=0.6931",
        "base_eval_loss=2",
        "reward_accuracy=0.8125",
        "llm_cost_usd=1.235e-05",
        "promoted=True",
    ):
        assert expected in text, text  # each on one line of the table, not cut or folded
    # Where to look: a command ZenML has, and the dashboard's project route (no server is up in tests: the
    # default port, with how to start it; a server that is up gives its own URL, tested in test_dashboard.py).
    one_line = " ".join(text.split())
    assert f"`zenml pipeline runs list --id {run.id}`" in one_line
    assert f"then http://127.0.0.1:8237/projects/{run.project.name}/runs/{run.id}" in one_line
    assert "llm-engineering dashboard --port N" in one_line
    # ...which is a command of the installed ZenML CLI with that filter (`runs describe` is not).
    import click
    from zenml.cli.cli import cli

    context = click.Context(cli)
    runs = cli.get_command(context, "pipeline").get_command(context, "runs")
    assert "describe" not in runs.list_commands(context)
    assert "id" in [parameter.name for parameter in runs.get_command(context, "list").params]


@step
def generate_with_an_llm(prompts: int) -> Annotated[int, "answers"]:
    log_metadata({"samples": prompts, "llm_calls": prompts, "llm_retries": 2, "llm_failed": 0, "llm_cost_usd": 0.5})
    return prompts


@pipeline
def generation_only(prompts: int) -> None:
    generate_with_an_llm(prompts)


def test_a_step_served_from_the_cache_says_cached_and_counts_no_llm_request(data_dir):
    """The probe: a rerun's summary showed `llm_calls=69` for a step ZenML served from its cache (0 requests)."""
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    first = Client().get_pipeline_run(generation_only(prompts=69).id)
    again = Client().get_pipeline_run(generation_only(prompts=69).id)
    assert str(again.steps["generate_with_an_llm"].status) == "cached"

    texts = []
    for run in (first, again):
        console = Console(record=True, width=120)
        print_run_summary(run, console)
        texts.append(console.export_text())
    ran, cached = texts
    assert "llm_calls=69" in ran and "llm_retries=2" in ran and "llm_cost_usd=0.5" in ran
    assert "llm_failed" not in ran  # zero: no news
    assert "cached: 0 LLM requests" in cached and "samples=69" in cached
    assert "llm_calls" not in cached and "llm_cost_usd" not in cached
    assert step_counts({"llm_calls": 3, "failed": 1}, cached=True) == ["cached: 0 LLM requests", "failed=1"]
