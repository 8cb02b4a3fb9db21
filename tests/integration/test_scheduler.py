"""The local trigger with real feature pipeline runs on a tiny corpus: runs on change only, retries failures."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from zenml.client import Client

from llm_engineering.application.run_summary import tick_summary_line
from llm_engineering.application.scheduling.orchestrator_schedule import (
    SchedulingUnsupported,
    schedule_on_orchestrator,
)
from llm_engineering.application.scheduling.pipeline_lock import lock_path
from llm_engineering.application.scheduling.schedule_config import load_schedule
from llm_engineering.application.scheduling.trigger import run_tick, run_trigger
from llm_engineering.application.scheduling.trigger_state import load_state, scheduler_dir
from llm_engineering.cli import app
from tests.conftest import SAMPLE_CORPUS, copy_articles, write_feature_config
from tests.support.web_server import serve

ARTICLES = ["rag-basics.md", "lora-in-practice.md"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_articles(tmp_path / "corpus", *ARTICLES)


def write_schedule(tmp_path: Path, corpus: Path, extra_sources: list | None = None, **crawl) -> Path:
    sources = [{"name": "articles", "type": "folder", "path": str(corpus)}, *(extra_sources or [])]
    feature = write_feature_config(
        tmp_path, sources, http={"timeout_s": 2, "politeness_delay_s": 0, "retries": 0}, **crawl
    )
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        yaml.safe_dump({"schedule": {"interval_seconds": 1}, "feature_pipeline": {"config": str(feature)}})
    )
    return schedule


def run_count() -> int:
    return Client().list_pipeline_runs(size=1).total


def ticks_logged() -> list[dict]:
    return [json.loads(line) for line in (scheduler_dir() / "ticks.jsonl").read_text().splitlines()]


def test_trigger_runs_the_feature_pipeline_only_when_a_watched_folder_changes(tmp_path, corpus, data_dir, caplog):
    caplog.set_level(logging.INFO, logger="llm_engineering")
    schedule = load_schedule(write_schedule(tmp_path, corpus))

    first = run_tick(schedule, 1)
    assert first.outcome == "ran", first.error
    assert first.changes == {"articles": sorted(f"new file {corpus / name}" for name in ARTICLES)}
    assert first.runs[0].startswith("feature_engineering: ") and first.runs[0].endswith("(completed)")
    assert f"| ran | {first.seconds:.1f}s | 2 change(s) in articles | runs: {first.runs[0]}" in tick_summary_line(first)
    assert Client().get_artifact_version("raw_documents").run_metadata["documents"] == 2
    runs_after_first = run_count()

    # A restarted trigger (fresh load, state from disk) sees nothing new and runs nothing.
    restarted = load_schedule(schedule.path)
    assert run_tick(restarted, 1).outcome == "unchanged"
    assert run_count() == runs_after_first

    # A new file appears; the trigger (1 s interval, real sleep) runs once, then sees no change on its next tick.
    shutil.copy(SAMPLE_CORPUS / "articles" / "sequence-packing.md", corpus / "sequence-packing.md")
    ticks = run_trigger(restarted, max_ticks=2)
    assert [tick.outcome for tick in ticks] == ["ran", "unchanged"]
    assert ticks[0].changes == {"articles": [f"new file {corpus / 'sequence-packing.md'}"]}
    assert (ticks[1].started_at - ticks[0].started_at).total_seconds() >= 1  # the interval is respected
    assert run_count() == runs_after_first + 1
    # Only the new document went through cleaning, chunking and embedding.
    assert Client().get_artifact_version("changed_documents").run_metadata["documents"] == 1

    assert [t["outcome"] for t in ticks_logged()] == ["ran", "unchanged", "ran", "unchanged"]
    assert "source articles changed: new file" in caplog.text and "no change" in caplog.text
    assert str(corpus / "sequence-packing.md") in load_state(schedule.feature.path).sources["articles"].files


def test_a_failed_run_is_logged_and_retried_next_tick_while_the_trigger_keeps_going(tmp_path, corpus, data_dir, caplog):
    caplog.set_level(logging.INFO, logger="llm_engineering")
    with serve() as site:
        web = {"name": "web", "type": "url", "urls": [f"{site.url}/news.html"]}
        # Any failed fetch fails the crawl step: the page 404s on the first tick, so the first run fails.
        schedule = load_schedule(write_schedule(tmp_path, corpus, [web], max_failed_fraction=0.0))

        def publish_then_wait(seconds: float) -> None:
            site.set_page(
                "/news.html", "<html><body><article><p>" + "Fresh news. " * 20 + "</p></article></body></html>", '"n1"'
            )
            time.sleep(seconds)

        ticks = run_trigger(schedule, max_ticks=2, sleep=publish_then_wait)

    failed, retried = ticks
    assert failed.outcome == "failed" and "crawl_sources" in failed.error
    assert failed.changes["articles"]  # the change it saw is still pending...
    assert retried.outcome == "ran"  # ...and picked up by the next tick
    assert set(retried.changes) == {"articles", "web"}
    assert Client().get_artifact_version("raw_documents").run_metadata["documents_per_source"] == {
        "articles": 2,
        "web": 1,
    }
    assert "pipeline run failed, fingerprints not committed; retrying next tick" in caplog.text
    assert [t["outcome"] for t in ticks_logged()] == ["failed", "ran"]


def test_a_second_trigger_skips_its_tick_while_the_lock_is_held(tmp_path, corpus, data_dir, caplog):
    schedule = load_schedule(write_schedule(tmp_path, corpus))
    lock_path().parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # another process (another trigger) in the middle of a run
        [
            sys.executable,
            "-c",
            f"from filelock import FileLock; import sys, time; l = FileLock({str(lock_path())!r}); "
            "l.acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        runs = run_count()
        busy = run_tick(schedule, 1)
        cli = CliRunner().invoke(app, ["schedule", "--config", str(schedule.path), "--once"])
    finally:
        holder.kill()
        holder.wait()
    assert busy.outcome == "skipped_busy" and str(lock_path()) in busy.error
    assert run_count() == runs
    assert load_state(schedule.feature.path).sources == {}  # nothing checked or committed
    assert "skipped, the data dir" in caplog.text and "is in use by another process" in caplog.text
    assert cli.exit_code == 0 and "tick 1 " in cli.output and "| skipped_busy |" in cli.output


def test_orchestrator_schedule_on_the_local_orchestrator_explains_what_to_do(tmp_path, corpus, data_dir):
    schedule = load_schedule(write_schedule(tmp_path, corpus))
    with pytest.raises(SchedulingUnsupported, match="uses the 'local' orchestrator, which cannot run ZenML schedules"):
        schedule_on_orchestrator(schedule)


def test_a_second_run_on_a_data_dir_in_use_is_refused_before_any_work(tmp_path, corpus, data_dir):
    """The probe: a second feature run on the same data dir got through crawl, clean and chunk, then failed inside
    embed_and_load on Qdrant's 'already accessed by another instance'."""
    config = write_feature_config(tmp_path, [{"name": "articles", "type": "folder", "path": str(corpus)}])
    holder = subprocess.Popen(  # a real run elsewhere: the same lock, with its holder written beside it
        [
            sys.executable,
            "-c",
            "import time; from llm_engineering.application.scheduling.pipeline_lock import pipeline_lock\n"
            "with pipeline_lock():\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LLM_ENGINEERING_DATA_DIR": str(data_dir)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        runs = run_count()
        result = subprocess.run(
            [sys.executable, "-m", "llm_engineering.cli", "run", "feature_engineering", "--config", str(config)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"},
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"error: the data dir {data_dir} is in use by pid {holder.pid} (`-c`, started 20" in message
    assert "Wait for it to finish, stop it, or set LLM_ENGINEERING_DATA_DIR to another folder" in message
    assert run_count() == runs  # refused before ZenML started a run
    # Once the holder is gone, the same command runs (the lock dies with its process).
    assert subprocess.run(
        [sys.executable, "-m", "llm_engineering.cli", "run", "feature_engineering", "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    ).returncode == 0  # fmt: skip


def test_the_cli_trigger_prints_each_line_once_without_ansi_and_tags_its_runs_scheduled(tmp_path, data_dir):
    """The probe: piped, every trigger line came twice, the second copy from ZenML's root handler in raw ANSI."""
    corpus = copy_articles(tmp_path / "corpus", ARTICLES[0])
    schedule = write_schedule(tmp_path, corpus)
    result = subprocess.run(
        [sys.executable, "-m", "llm_engineering.cli", "schedule", "--config", str(schedule), "--once"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "ZENML_LOGGING_VERBOSITY": "INFO", "COLUMNS": "300"},  # as a user's shell, piped
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "\x1b[" not in output
    for line in ("trigger started: every 1 s, watching ['articles']", "source articles changed: new file"):
        assert output.count(line) == 1, output
    [ran] = [line for line in result.stderr.splitlines() if "ran feature_engineering: " in line]
    run_name = ran.split("ran feature_engineering: ", 1)[1].split(" (", 1)[0]
    assert "| ran | " in result.stdout and f"runs: feature_engineering: {run_name} (completed)" in result.stdout
    assert [tag.name for tag in Client().get_pipeline_run(run_name).tags] == ["scheduled"]
