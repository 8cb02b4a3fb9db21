"""Comet experiment tracking through the transformers callback: offline by default, online with a key.

Only environment variables are set here; the callback creates the experiment when training starts. Offline
experiments land as zip files under `<data_dir>/comet` (upload later with `comet upload`).
"""

from __future__ import annotations

import os

from llm_engineering.settings import Settings


def comet_report_to(enabled: bool, settings: Settings, experiment_name: str) -> list[str]:
    """The `report_to` list for TrainingArguments; [] when tracking is off."""
    if not enabled:
        return []
    if settings.comet_api_key is not None:
        os.environ["COMET_API_KEY"] = settings.comet_api_key.get_secret_value()
        os.environ["COMET_START_ONLINE"] = "true"
        os.environ["COMET_MODE"] = "create"  # a new experiment per training stage
    else:
        os.environ["COMET_START_ONLINE"] = "false"
        os.environ["COMET_MODE"] = "create"
        offline = os.environ.setdefault("COMET_OFFLINE_DIRECTORY", str(settings.path("comet")))
        os.makedirs(offline, exist_ok=True)
        # Offline means offline: comet_ml otherwise reports its own errors to Sentry over the network.
        os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    os.environ.setdefault("COMET_PROJECT_NAME", settings.comet_project_name)
    if settings.comet_workspace:
        os.environ.setdefault("COMET_WORKSPACE", settings.comet_workspace)
    os.environ["COMET_EXPERIMENT_NAME"] = experiment_name
    os.environ.setdefault("COMET_LOG_ASSETS", "false")  # checkpoints stay in ZenML, not in Comet
    route_comet_logging()
    return ["comet_ml"]


def route_comet_logging() -> None:
    """comet_ml logs through a console handler of its own on stderr, which ZenML stores as ERROR line by line
    (`COMET INFO: ...` included); each line is stored at its own level instead (infrastructure/zenml/step_logs.py).
    comet_ml sets its logger up when first imported, so it is imported here, before the trainer's callback does."""
    import comet_ml  # noqa: F401 - configures the `comet_ml` logger

    from llm_engineering.infrastructure.zenml.step_logs import store_at_own_level

    store_at_own_level("comet_ml")


def end_comet_experiment() -> None:
    """End the training stage's experiment now (online: flush; offline: write the zip) instead of at
    interpreter exit, when logging streams may already be closed."""
    import comet_ml

    experiment = comet_ml.get_running_experiment()
    if experiment is not None:
        experiment.end()
