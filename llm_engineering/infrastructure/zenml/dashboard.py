"""The local ZenML server and dashboard: `zenml login --local` / `zenml logout --local`, run as the ZenML CLI.

Going through ZenML's own CLI keeps its daemon bookkeeping (pid file, client connection) exactly as
`zenml` itself would leave it, so `zenml logout --local` by hand works on a server we started and vice versa.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8237


class DashboardError(RuntimeError):
    pass


def dashboard_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}"


def run_page(run: Any) -> str:
    """The dashboard's route of a run, as ZenML's own `dashboard_utils.get_run_url` builds it."""
    from zenml.constants import PROJECTS, RUNS

    return f"{PROJECTS}/{run.project.name}{RUNS}/{run.id}"


def run_url(run: Any) -> str | None:
    """The run's page on the dashboard that is up now, or None when none is.

    Connected to a server (`make dashboard` connects the client to the local one), ZenML's `get_run_url` builds
    it from the server's own URL, whatever port it was started on; a local server that runs while the client is
    not connected to it is asked for its URL."""
    from zenml.utils.dashboard_utils import get_run_url
    from zenml.utils.server_utils import get_local_server

    try:
        url = get_run_url(run)
        if url:
            return url
        server = get_local_server()
    except Exception:  # noqa: BLE001 - a link is a courtesy: the summary must print without one
        return None
    if server is not None and server.is_running and server.status and server.status.url:
        return f"{server.status.url.rstrip('/')}{run_page(run)}"
    return None


def _zenml_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("zenml")
    if beside_python.is_file():
        return [str(beside_python)]
    found = shutil.which("zenml")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from zenml_cli import cli; sys.exit(cli())"]


def _zenml(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # No browser from a Make target or a test; the URL is printed instead.
    env = {**os.environ, "ZENML_AUTO_OPEN_DASHBOARD": "false", "AUTO_OPEN_DASHBOARD": "false"}
    return subprocess.run(
        [*_zenml_command(), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def is_serving(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def start_dashboard(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, wait_seconds: float = 60) -> str:
    """Starts the local server as a background daemon (offline), connects the client to it, returns its URL."""
    url = dashboard_url(host, port)
    completed = _zenml("login", "--local", "--ip-address", host, "--port", str(port), timeout=wait_seconds + 60)
    if completed.returncode != 0:
        raise DashboardError(f"`zenml login --local` failed:\n{(completed.stderr or completed.stdout).strip()}")
    deadline = time.monotonic() + wait_seconds
    while not is_serving(url):
        if time.monotonic() > deadline:
            raise DashboardError(f"the local ZenML server did not answer at {url}/health within {wait_seconds:g} s")
        time.sleep(0.5)
    return url


def stop_dashboard(timeout: float = 60) -> str:
    """Stops the local server and points the client back at the local store; returns what happened."""
    completed = _zenml("logout", "--local", timeout=timeout)
    if completed.returncode != 0:
        raise DashboardError(f"`zenml logout --local` failed:\n{(completed.stderr or completed.stdout).strip()}")
    if "not running" in completed.stdout + completed.stderr:
        return "the local ZenML dashboard was not running"
    return "the local ZenML dashboard has been shut down; the client uses the local store again"
