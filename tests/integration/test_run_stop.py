"""SIGTERM stops a real run promptly: the current step stops between LLM calls, no later step runs, nothing is
published, ZenML files the step and the run as stopped with the reason, the CLI prints one line and no traceback,
and the next run resumes and publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from zenml.client import Client

from tests.conftest import PROJECT_ROOT, copy_articles
from tests.integration.test_dataset_pipeline import ARTICLES, overrides
from tests.support.dataset_responder import dataset_responder
from tests.support.openai_server import OpenAIStubServer


def cli_run(settings: list[str]) -> list[str]:
    config = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"
    command = [sys.executable, "-m", "llm_engineering.cli", "run", "feature_engineering", "--config", str(config)]
    return command + [part for setting in settings for part in ("--set", setting)]


def dataset_versions() -> int:
    return Client().list_artifact_versions(artifact="instruction_dataset", size=1).total


def test_sigterm_stops_the_step_and_the_next_run_resumes(tmp_path: Path, data_dir: Path) -> None:
    corpus = copy_articles(tmp_path / "corpus", *ARTICLES[:2])
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text('{"question": "q", "answer": "an unrelated evaluation answer"}\n')
    environment = {**os.environ, "COLUMNS": "400"}
    with OpenAIStubServer(latency_s=1.0, responder=dataset_responder) as server:
        settings = [*overrides(tmp_path, corpus, server.base_url, eval_set), "datasets.llm.max_concurrency=1",
                    "datasets.incremental=false"]  # fmt: skip
        versions = dataset_versions()
        process = subprocess.Popen(
            cli_run(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
        deadline = time.monotonic() + 180
        while server.request_count < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert server.request_count >= 2, "generation never started"
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        stopped_after = time.monotonic() - signalled
        calls_at_stop = server.request_count
    assert process.returncode == 143, stderr[-3000:]
    assert stopped_after < 20  # the probe: 297 s, every later step still ran
    message = " ".join(stderr.split())
    assert "stopped by SIGTERM in step generate_instruction_samples" in message
    assert (
        "no later step ran and nothing half-done was published. The next run resumes where this one stopped:" in message
    )
    # ... then what completed, what the stopped step kept, and what the next run reuses or runs again.
    lines = [line.strip() for line in stderr.splitlines()]
    completed = next(line for line in lines if line.startswith("completed: ")).removeprefix("completed: ").split(", ")
    assert completed[0] == "crawl_sources" and "embed_and_load" in completed
    kept = "the LLM answers received so far are cached and are not asked again"
    assert f"stopped:   generate_instruction_samples: {kept}" in lines
    next_run = lines[lines.index(f"stopped:   generate_instruction_samples: {kept}") + 1 :]
    # The crawl is never cached, and every other step reads from it: no step is surely reused.
    assert next_run[0].startswith("next run:  runs crawl_sources, ")
    never_cached = next_run[0].removeprefix("next run:  runs ").split(" again (never cached")[0].split(", ")
    after = next_run[1].removeprefix("reuses ").split(" only if the steps they read from (run again)")[0].split(", ")
    assert "clean_documents" in after and set(never_cached) | set(after) == set(completed)
    # ZenML's own account of the interrupted step (an error line and a traceback per step) is not shown.
    assert "Traceback" not in stdout + stderr and "Failed to run step" not in stdout + stderr, stdout[-3000:]
    assert calls_at_stop <= 4  # it stopped sending: the step did not go on through the chunks
    assert dataset_versions() == versions
    run = Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    # The handler marked the run `stopping` before the interruption reached ZenML's step runner, so ZenML filed the
    # step and then the run as stopped (not failed), with the reason, and would have created no later step.
    reason = "stopped by SIGTERM in step generate_instruction_samples"
    assert run.status == "stopped" and run.get_body().status_reason == reason
    assert run.run_metadata["stopped"] == reason
    steps = Client().get_pipeline_run(run.id).steps
    assert steps["generate_instruction_samples"].status == "stopped"
    assert "publish_datasets" not in steps

    with OpenAIStubServer(responder=dataset_responder) as server:
        settings = [*overrides(tmp_path, corpus, server.base_url, eval_set), "datasets.incremental=false"]
        rerun = subprocess.run(cli_run(settings), capture_output=True, text=True, env=environment, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert dataset_versions() == versions + 1
    rerun_steps = (
        Client().get_pipeline_run(Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0].id).steps
    )
    # As the summary said: the never-cached steps ran again.
    assert {str(rerun_steps[name].status) for name in never_cached} == {"completed"}


def test_a_stop_request_ends_training_after_the_step_with_a_checkpoint_the_rerun_resumes_from(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The floor under ZenML's interruption: wherever it was swallowed, the stage stops after the step it was in."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from llm_engineering.application.training.sft import FINAL_FOLDER, train_sft
    from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
    from llm_engineering.infrastructure.interruption import RunStopped, recording_signals, request_stop
    from tests.integration.conftest import make_instruction_dataset

    config = SftConfig.model_validate(
        {
            "adapter": {"method": "lora"},
            "max_length": 64,
            "optimization": {"max_steps": 6, "logging_steps": 1, "save_steps": 2, "learning_rate": 5e-2},
        }
    )
    base, output_dir, steps = BaseModelConfig(name=str(tiny_model_dir)), tmp_path / "sft", []

    def step_taken(*_: object) -> None:  # the signal arrives during the third optimizer step (not a save step)
        steps.append(1)
        if len(steps) == 3:
            request_stop(signal.SIGTERM)

    hook = register_optimizer_step_post_hook(step_taken)
    try:
        with recording_signals(), pytest.raises(RunStopped) as stopped:
            train_sft(make_instruction_dataset(), base, config, output_dir)
    finally:
        hook.remove()
    assert str(stopped.value) == (
        "SIGTERM received: stopped sft training after step 3 (saved as checkpoint-3); "
        "the next run resumes from what was stored"
    )
    assert len(steps) == 3 and not (output_dir / FINAL_FOLDER).exists()
    rerun = train_sft(make_instruction_dataset(), base, config, output_dir)
    assert rerun.resumed_from == str(output_dir / "checkpoint-3")


def test_a_run_killed_with_sigkill_is_filed_failed_with_the_reason_by_the_next_start(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL leaves no handler to record the end: ZenML kept the run "running" forever. The next start on the same
    data dir finds the run the dead process named beside the lock and files it (and its open step) failed."""
    import logging

    from llm_engineering.application.pipeline_runner import load_for, run_pipeline
    from llm_engineering.application.scheduling.pipeline_lock import abandoned_path, holder_path, lock_path
    from tests.conftest import write_feature_config
    from tests.support.web_server import serve

    with serve() as site:
        site.handler.slow_seconds = 120  # the crawl waits on this page: the run is mid-step when it is killed
        http = {"timeout_s": 150, "politeness_delay_s": 0, "retries": 0, "respect_robots_txt": False}
        config = write_feature_config(
            tmp_path, [{"name": "web", "type": "url", "urls": [f"{site.url}/slow"]}], http=http
        )
        command = [sys.executable, "-m", "llm_engineering.cli", "run", "feature_engineering", "--config", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 180
            while "/slow" not in site.requests and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
            assert "/slow" in site.requests, process.stderr.read() if process.poll() is not None else "no request"
            process.kill()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    killed = Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    assert killed.status == "running"  # what the dashboard showed forever
    assert holder_path(lock_path()).is_file()  # the dead process's holder: its pid and the run it started

    training = load_for("training", PROJECT_ROOT / "configs" / "training.yaml", ["datasets.instruction.version='999'"])
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="no dataset artifact"):
        run_pipeline("training", training)  # the next start: refused for its own reason, after filing the dead run
    run = Client().get_pipeline_run(killed.id)
    reason = run.get_body().status_reason
    assert run.status == "failed" and reason.startswith(f"killed or crashed: its process (pid {process.pid}, started ")
    assert reason.endswith("never recorded the end of the run (SIGKILL, out of memory); filed failed by the next run "
                           "on this data dir")  # fmt: skip
    assert run.run_metadata["stopped_reason"] == reason
    assert run.run_metadata["stopped_command"].endswith(f"run feature_engineering --config {config}")
    step = run.steps["crawl_sources"]
    assert step.status == "failed" and step.get_metadata().exception_info.message == reason
    assert f"run {run.name} was left running in step crawl_sources by a process that is gone: filed failed" in (
        caplog.text
    )
    assert not abandoned_path(lock_path()).exists() and not holder_path(lock_path()).exists()  # filed once
