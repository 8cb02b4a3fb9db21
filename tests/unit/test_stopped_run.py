"""What the summary of a stopped run says it kept: completed steps, the step it stopped in (a training stage: the
checkpoint the next run resumes from), and what the next run reuses from ZenML's cache or runs again. On real ZenML
runs of a tiny pipeline; the SIGTERM'd feature pipeline itself is tests/integration/test_run_stop.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zenml import log_metadata, pipeline, step
from zenml.client import Client

from llm_engineering.application.stopped_run import describe_stopped_run


@step
def read_corpus() -> int:
    return 3


@step(enable_cache=False)
def look_for_changes(documents: int) -> int:
    return documents


@step
def count_words(documents: int) -> int:
    return documents * 100


@step
def train(documents: int, folder: str) -> None:
    log_metadata({"output": folder})  # as train_stage does when it starts
    raise RuntimeError("interrupted")


@pipeline
def tiny_training(folder: str) -> None:
    documents = read_corpus()
    train(count_words(look_for_changes(documents)), folder, id="train_sft")


def checkpoint(folder: Path, step_number: int) -> None:
    saved = folder / f"checkpoint-{step_number}"
    saved.mkdir(parents=True)
    (saved / "adapter_model.safetensors").write_bytes(b"weights")
    (saved / "trainer_state.json").write_text(json.dumps({"global_step": step_number}))


def test_the_summary_names_what_completed_where_it_stopped_and_what_the_next_run_picks_up(tmp_path, data_dir):
    folder = tmp_path / "training" / "sft-0123"
    folder.mkdir(parents=True)
    for _ in range(2):  # the second run finds read_corpus in the cache
        with pytest.raises(RuntimeError):
            tiny_training(str(folder))
    run = Client().get_pipeline_run(Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0].id)
    assert describe_stopped_run(run) == [
        "completed: read_corpus (from the cache), look_for_changes, count_words (from the cache)",
        f"stopped:   train_sft: no checkpoint was saved yet; the next run trains it from its first step (in {folder})",
        "next run:  reuses read_corpus from ZenML's step cache while their inputs and settings are unchanged "
        "(not with --no-cache)",
        "           runs look_for_changes again (never cached: they read what may have changed)",
        # Cached this time: look_for_changes, run again, returned the same (ZenML hashes the int's content).
        "           reuses count_words only if the steps they read from (run again) return the same as this time",
    ]
    checkpoint(folder, 2)
    checkpoint(folder, 4)
    (folder / "checkpoint-4" / "trainer_state.json").write_text('{"global_st')  # cut off by the kill: skipped
    assert describe_stopped_run(run)[1] == (
        f"stopped:   train_sft: the next run resumes it from checkpoint-2 ({folder / 'checkpoint-2'})"
    )
