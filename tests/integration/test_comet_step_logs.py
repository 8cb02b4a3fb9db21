"""Comet's console lines in ZenML's stored step logs at their own level: the offline experiment a training stage opens
and ends (comet_report_to, end_comet_experiment), inside a real ZenML step. Before, comet_ml's own stderr handler had
every one of its lines stored as ERROR (241 of 248 lines of an SFT step)."""

from __future__ import annotations

import logging

from zenml import pipeline, step
from zenml.client import Client


@step(enable_cache=False)
def offline_experiment() -> None:
    import comet_ml

    from llm_engineering.infrastructure.comet_tracking import comet_report_to, end_comet_experiment
    from llm_engineering.settings import get_settings

    assert comet_report_to(True, get_settings(), "step-logs") == ["comet_ml"]
    experiment = comet_ml.start()  # as transformers' CometCallback does, from the environment comet_report_to set
    experiment.log_metric("loss", 1.5, step=1)
    end_comet_experiment()  # prints the experiment summary: a dozen INFO lines


@pipeline
def comet_logging() -> None:
    offline_experiment()


def stored_entries(step_run) -> list:  # noqa: ANN001 - a ZenML StepRunResponse
    from zenml.log_stores.artifact.artifact_log_store import fetch_log_records

    artifact_store = Client().active_stack.artifact_store
    return [
        entry
        for logs in step_run.log_collection or []
        for entry in fetch_log_records(artifact_store, logs.uri, limit=100_000)
    ]


def test_comet_info_lines_are_stored_as_info_not_error(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(data_dir / "comet"))
    root = logging.getLogger()
    verbosity = root.level
    root.setLevel(logging.INFO)  # the CLI's default; the test session runs ZenML at WARN, which stores no INFO line
    try:
        comet_logging()
    finally:
        root.setLevel(verbosity)
    run = Client().get_pipeline_run(Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0].id)
    assert str(run.status).lower().endswith("completed")
    entries = [entry for entry in stored_entries(run.steps["offline_experiment"]) if "COMET" in entry.message]
    levels = {entry.message.split(":")[0].strip(): set() for entry in entries}
    for entry in entries:
        levels[entry.message.split(":")[0].strip()].add(str(entry.level.name))
    assert len([entry for entry in entries if entry.message.startswith("COMET INFO:")]) >= 10  # the summary
    assert any("Comet.ml OfflineExperiment Summary" in entry.message for entry in entries)
    assert levels["COMET INFO"] == {"INFO"}  # was ERROR, every one
    assert levels.get("COMET WARNING", {"WARN"}) == {"WARN"}  # ZenML's name for WARNING
    assert not [entry.message for entry in entries if entry.level.name == "ERROR"]
    # Each line once: the console copy of the line is not stored again through the stderr capture.
    messages = [entry.message for entry in entries]
    assert messages.count("COMET INFO: Comet.ml OfflineExperiment Summary") == 1
