"""`llm-engineering dashboard` starts the local ZenML server (offline) and `--stop` stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CLI = [str(Path(sys.executable).with_name("llm-engineering"))]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_dashboard_starts_answers_http_and_stops(tmp_path, data_dir):
    from zenml.client import Client
    from zenml.constants import FINISHED_ONBOARDING_SURVEY_KEY
    from zenml.utils import source_utils

    from tests.unit.test_run_summary import metrics_only

    source_utils.set_custom_source_root(str(Path(__file__).resolve().parents[2]))
    run = metrics_only()  # a run in the store the server will serve
    port = free_port()  # not the default one: links must follow `--port`
    # The session's isolated ZENML_CONFIG_PATH (tests/conftest.py) is inherited: the user's store is never touched.
    env = {**os.environ, "ZENML_CONFIG_PATH": os.environ["ZENML_CONFIG_PATH"]}
    url = f"http://127.0.0.1:{port}"
    started = subprocess.run([*CLI, "dashboard", "--port", str(port)], capture_output=True, text=True, env=env,
                             timeout=180)  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip().splitlines()[-1] == url
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        assert httpx.get(url, timeout=5).status_code == 200  # the dashboard's pages
        # The survey the dashboard asks before any page is answered (the server serves this session's local store).
        user = Client().get_user(Client().active_user.id, hydrate=True)
        assert user.email_opted_in is False and user.user_metadata[FINISHED_ONBOARDING_SURVEY_KEY] is True
        # A run's link, as the summary prints it from a client connected to the server: its URL and the project route.
        script = (
            "import sys; from zenml.client import Client; from llm_engineering.application.run_summary import "
            "where_to_look; print(where_to_look(Client().get_pipeline_run(sys.argv[1])))"
        )
        linked = subprocess.run([sys.executable, "-c", script, str(run.id)], capture_output=True, text=True, env=env,
                                timeout=120)  # fmt: skip
        assert linked.stdout.strip().endswith(f"in the dashboard: {url}/projects/default/runs/{run.id}"), linked.stderr
        assert httpx.get(f"{url}/projects/default/runs/{run.id}", timeout=5).status_code == 200
    finally:
        stopped = subprocess.run([*CLI, "dashboard", "--stop"], capture_output=True, text=True, env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert "shut down" in stopped.stderr + stopped.stdout
    assert port_is_free(port)
