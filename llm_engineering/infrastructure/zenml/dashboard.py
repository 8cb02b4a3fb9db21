"""The local ZenML server and dashboard: `zenml login --local` / `zenml logout --local`, run as the ZenML CLI, with
the dashboard's onboarding survey answered so that its pages show at once.

Going through ZenML's own CLI keeps its daemon bookkeeping (pid file, client connection) exactly as
`zenml` itself would leave it, so `zenml logout --local` by hand works on a server we started and vice versa.
"""

from __future__ import annotations

import logging
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
    try:
        complete_onboarding_survey(url)
    except Exception as exc:  # noqa: BLE001 - the server is up; the survey can still be answered in the browser
        logging.getLogger(__name__).warning("the dashboard's onboarding survey could not be skipped: %s", exc)
    return url


def complete_onboarding_survey(url: str) -> bool:
    """Marks the local server's user as having finished the dashboard's onboarding survey; True if it was not yet.

    The open-source dashboard asks for a name and an email before it shows any page, for as long as its user has no
    email opt-in answer (`email_opted_in` unset) and no `finished_onboarding_survey` in its metadata. ZenML has no
    server setting to turn the survey off; the local server runs without authentication as the `default` user, so
    this answers it as the form does on submit, through the server's own `PUT /current-user` (`PUT /users/<id>`
    ignores the opt-in): no email, no newsletter, survey finished."""
    from zenml.client import Client
    from zenml.constants import CURRENT_USER, FINISHED_ONBOARDING_SURVEY_KEY
    from zenml.enums import StoreType
    from zenml.models import UserUpdate

    client = Client()
    store = client.zen_store
    if store.type != StoreType.REST or store.url.rstrip("/") != url.rstrip("/"):
        raise DashboardError(f"this process's ZenML client is not connected to {url} but to {store.url}")
    user = client.get_user(client.active_user.id, hydrate=True)
    metadata = dict(user.user_metadata or {})
    if user.email_opted_in is not None and metadata.get(FINISHED_ONBOARDING_SURVEY_KEY):
        return False
    metadata[FINISHED_ONBOARDING_SURVEY_KEY] = True
    store.put(CURRENT_USER, body=UserUpdate(email_opted_in=False, user_metadata=metadata))  # type: ignore[attr-defined]
    return True


def stop_dashboard(timeout: float = 60) -> str:
    """Stops the local server and points the client back at the local store; returns what happened."""
    completed = _zenml("logout", "--local", timeout=timeout)
    if completed.returncode != 0:
        raise DashboardError(f"`zenml logout --local` failed:\n{(completed.stderr or completed.stdout).strip()}")
    if "not running" in completed.stdout + completed.stderr:
        return "the local ZenML dashboard was not running"
    return "the local ZenML dashboard has been shut down; the client uses the local store again"
