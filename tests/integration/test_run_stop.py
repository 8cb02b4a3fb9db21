"""SIGTERM stops a real run promptly: the current step stops between LLM calls, no later step runs, nothing is
published, the run is marked stopped, and the next run resumes and publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
        process = subprocess.Popen(cli_run(settings), stderr=subprocess.PIPE, text=True, env=environment)
        deadline = time.monotonic() + 180
        while server.request_count < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert server.request_count >= 2, "generation never started"
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        stopped_after = time.monotonic() - signalled
        calls_at_stop = server.request_count
    assert process.returncode == 143, stderr[-3000:]
    assert stopped_after < 20  # the probe: 297 s, every later step still ran
    message = " ".join(stderr.split())
    assert "stopped by SIGTERM in step generate_instruction_samples" in message
    assert "no later step ran and nothing half-done was published. The next run resumes" in message
    assert calls_at_stop <= 4  # it stopped sending: the step did not go on through the chunks
    assert dataset_versions() == versions
    run = Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    # ZenML files the interrupted step (and so the run) as failed and allows no change once finished; the stop and
    # its reason are on the run.
    assert str(run.status).lower().split(".")[-1] in ("failed", "stopped")
    assert run.run_metadata["stopped"] == "stopped by SIGTERM in step generate_instruction_samples"
    assert "publish_datasets" not in Client().get_pipeline_run(run.id).steps

    with OpenAIStubServer(responder=dataset_responder) as server:
        settings = [*overrides(tmp_path, corpus, server.base_url, eval_set), "datasets.incremental=false"]
        rerun = subprocess.run(cli_run(settings), capture_output=True, text=True, env=environment, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert dataset_versions() == versions + 1
