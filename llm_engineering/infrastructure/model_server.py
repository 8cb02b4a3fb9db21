"""An OpenAI-compatible server process for one model: llama-cpp-python's server (`llama_cpp.server`) on a GGUF file,
or vLLM's (`vllm.entrypoints.openai.api_server`) on a safetensors folder. Started as a child process of this venv's
python, on 127.0.0.1 unless told otherwise; ready once `GET /v1/models` answers.

A detached server (`make serve`) records itself in a state file (pid, url, what it serves) under the data dir, which
`stop_detached` (`make serve-stop`) reads; it only signals a pid whose command line is one of these servers.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # llama.cpp's own server default
SERVER_MODULES = {"llama_cpp": "llama_cpp.server", "vllm": "vllm.entrypoints.openai.api_server"}


class ServerError(RuntimeError):
    """The server could not be started or stopped; the message says why and what to do."""


class PortInUse(ServerError):
    pass


class ServerDidNotStart(ServerError):
    pass


@dataclass
class ServerSpec:
    backend: str  # llama_cpp | vllm
    model_path: Path  # a GGUF file (llama_cpp) or a Hugging Face folder (vllm)
    alias: str  # the model name clients send and /v1/models lists
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    n_ctx: int = 2048
    threads: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        module = SERVER_MODULES[self.backend]
        if self.backend == "vllm":
            return [
                sys.executable, "-m", module, "--model", str(self.model_path), "--served-model-name", self.alias,
                "--host", self.host, "--port", str(self.port), "--max-model-len", str(self.n_ctx),
            ]  # fmt: skip
        command = [
            sys.executable, "-m", module, "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.threads:
            command += ["--n_threads", str(self.threads)]
        return command


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen
    log_path: Path | None

    @property
    def url(self) -> str:
        return self.spec.url

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)


def check_port_free(host: str, port: int) -> None:
    """PortInUse when something listens on host:port already (checked before starting, to say so clearly)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT does not count
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ServerError(f"cannot listen on {host}:{port}: {exc}") from exc
            raise PortInUse(
                f"port {port} on {host} is already in use (another server, or a `make serve` still running: "
                "`make serve-stop` stops that one); pick another with --port"
            ) from None


def start(
    spec: ServerSpec, log_path: Path | None, ready_timeout_s: float = 180.0, detach: bool = False
) -> RunningServer:
    """Starts the server and returns once it answers `GET /v1/models`; its output goes to `log_path` (None: this
    process's stdout and stderr). Detached, it runs in a session of its own and outlives this process."""
    check_port_free(spec.host, spec.port)
    if log_path is None:
        process = subprocess.Popen(spec.command(), stdin=subprocess.DEVNULL)
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                spec.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=detach,
            )  # fmt: skip
    server = RunningServer(spec=spec, process=process, log_path=log_path)
    deadline = time.monotonic() + ready_timeout_s
    while not _answers(spec.url):
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"the {spec.backend} server exited with status {process.returncode} before answering at {spec.url} "
                f"(log: {log_path or 'above'}):\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            server.stop()
            raise ServerDidNotStart(
                f"the {spec.backend} server did not answer at {spec.url}/v1/models within {ready_timeout_s:g} s "
                f"(log: {log_path or 'above'}):\n{_tail(log_path)}"
            )
        time.sleep(0.25)
    return server


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/models", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None:
        return "(its output is above)"
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- a detached server's state file


def write_state(state_path: Path, server: RunningServer, serves: str) -> None:
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state = {"pid": server.process.pid, "url": server.url, "backend": server.spec.backend, "serves": serves}
    state["log"] = str(server.log_path) if server.log_path else None
    state_path.write_text(json.dumps(state, indent=2))


def read_state(state_path: Path) -> dict | None:
    """The detached server's state, or None when none was started or it is no longer running."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None
    if not _is_our_server(int(state.get("pid", 0))):
        state_path.unlink(missing_ok=True)
        return None
    return state


def stop_detached(state_path: Path, timeout_s: float = 20.0) -> str:
    """Stops the server `make serve` started; says what it stopped (or that none was running)."""
    state = read_state(state_path)
    if state is None:
        return "no server started by `make serve` is running"
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_our_server(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_our_server(pid):
        os.kill(pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return f"stopped the server at {state['url']} (pid {pid}, {state['serves']})"


def _is_our_server(pid: int) -> bool:
    """A live process whose command line runs one of the server modules (not a recycled pid)."""
    if pid <= 0:
        return False
    if not Path("/proc").is_dir():  # no procfs (macOS): a live pid is taken to be ours
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":  # exited, not reaped yet
        return False
    return any(module.encode() in command for module in SERVER_MODULES.values())
