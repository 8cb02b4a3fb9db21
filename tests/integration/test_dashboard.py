"""`llm-engineering dashboard` starts the local ZenML server (offline) and `--stop` stops it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from llm_engineering.infrastructure.zenml.dashboard import DEFAULT_PORT

CLI = [str(Path(sys.executable).with_name("llm-engineering"))]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_dashboard_starts_answers_http_and_stops(tmp_path):
    if not port_is_free(DEFAULT_PORT):
        pytest.skip(f"something already listens on 127.0.0.1:{DEFAULT_PORT}")
    # The session's isolated ZENML_CONFIG_PATH (tests/conftest.py) is inherited: the user's store is never touched.
    env = {**os.environ, "ZENML_CONFIG_PATH": os.environ["ZENML_CONFIG_PATH"]}
    url = f"http://127.0.0.1:{DEFAULT_PORT}"
    started = subprocess.run([*CLI, "dashboard"], capture_output=True, text=True, env=env, timeout=180)
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip().splitlines()[-1] == url
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        assert httpx.get(url, timeout=5).status_code == 200  # the dashboard's pages
    finally:
        stopped = subprocess.run([*CLI, "dashboard", "--stop"], capture_output=True, text=True, env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert "shut down" in stopped.stderr + stopped.stdout
    assert port_is_free(DEFAULT_PORT)
