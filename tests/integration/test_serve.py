"""`llm-engineering serve`: a registered model version's GGUF behind llama.cpp's OpenAI-compatible server, with the
feature pipeline's OpenAI-compatible provider (the llm block of configs/feature_engineering-self.yaml) generating
from it; a busy port, a model never promoted and a version without (or with a replaced) GGUF are refused, each
with the fix."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed: `make install` builds it (the `serve` extra)",
)
CLI = [sys.executable, "-m", "llm_engineering.cli"]
QUESTIONS = ["What is LoRA?", "Explain DPO in one sentence.", "Where do the chunks go?"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}  # one line per message, as a terminal that wide shows it
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=300)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def register_version(model: str, exported_model: dict, promote: bool) -> str:
    """A model version as the training pipeline leaves it: the export record in its metadata, maybe promoted."""
    from zenml import log_metadata
    from zenml.client import Client

    client = Client()
    client.create_model(name=model)
    version = client.create_model_version(model_name_or_id=model)  # named by its number, as a run names it
    log_metadata({"exported_model": exported_model}, model_version_id=version.id)
    if promote:
        client.update_model_version(model, version.id, stage="production", force=True)
    return version.name


def export_record(folder: Path, card) -> dict:  # noqa: ANN001 - the ModelCard
    """What export_trained_model records (and promote_model copies onto the model version)."""
    gguf = [file.model_dump() for file in card.gguf]
    return {"folder": str(folder), "merged": False, "stage": "sft", "hub_url": None, "gguf": gguf}


def test_the_production_version_is_served_and_the_feature_pipelines_provider_generates_with_it(
    tiny_gguf_export,
    data_dir: Path,  # noqa: ANN001
) -> None:
    from llm_engineering.application.pipeline_runner import load_for
    from llm_engineering.infrastructure.llm import ChatRequest, build_provider
    from llm_engineering.infrastructure.model_server import check_port_free, stop_detached

    folder, card = tiny_gguf_export
    register_version("served-assistant", export_record(folder, card), promote=True)
    port = free_port()

    started = run_cli("serve", "--model", "served-assistant", "--port", str(port), "--quantization", "q8_0", "--detach")
    try:
        assert started.returncode == 0, started.stderr
        base_url = f"http://127.0.0.1:{port}/v1"
        assert started.stdout.strip() == base_url
        assert "serving served-assistant version 1 (#1, production): tiny-assistant-q8_0.gguf with llama_cpp" in (
            started.stderr
        )
        assert [m["id"] for m in httpx.get(f"{base_url}/models").json()["data"]] == ["served-assistant"]

        # The shipped self config's llm block, pointed at this port and this test's model name.
        overrides = [f"datasets.llm.base_url={base_url}", "datasets.llm.model=served-assistant"]
        overrides += ["datasets.llm.max_new_tokens=8", "datasets.llm.cache=false", "datasets.llm.max_retries=0"]
        loaded = load_for("feature_engineering", PROJECT_ROOT / "configs" / "feature_engineering-self.yaml", overrides)
        config = loaded.parameters.datasets.llm
        assert (config.provider, config.max_concurrency) == ("openai", 2)
        provider = build_provider(config)
        results = provider.generate([ChatRequest(messages=[{"role": "user", "content": q}], key=q) for q in QUESTIONS])
        assert [r.key for r in results] == QUESTIONS
        assert all(r.ok and r.attempts == 1 for r in results), [r.error for r in results]
        assert all(r.text for r in results)  # the tiny random model's greedy tokens ("\n" mostly), but tokens
        assert all(r.usage.prompt_tokens > 10 for r in results)  # the chat template from the GGUF wraps each question
        assert all(1 <= r.usage.completion_tokens <= 8 for r in results)  # max_new_tokens reached the server
        usage = provider.usage()
        assert (usage.calls, usage.failed, usage.retries) == (3, 0, 0)

        # Another server on the same port is refused before it starts, naming the port and the way out.
        busy = run_cli("serve", "--model", "served-assistant", "--port", str(port))
        assert busy.returncode == 2
        assert f"error: port {port} on 127.0.0.1 is already in use (another server, or a `make serve` still " in (
            busy.stderr
        )
        assert "pick another with --port" in busy.stderr
    finally:
        stopped = run_cli("serve", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the server at http://127.0.0.1:{port} (pid " in stopped.stderr
    check_port_free("127.0.0.1", port)  # the server is gone: the port is free again
    assert not (data_dir / "serve" / "server.json").exists()
    assert stop_detached(data_dir / "serve" / "server.json") == "no server started by `make serve` is running"


def test_serving_without_a_production_version_names_the_command_that_makes_one(
    tiny_gguf_export,
    data_dir: Path,  # noqa: ANN001
) -> None:
    folder, card = tiny_gguf_export
    register_version("never-promoted", export_record(folder, card), promote=False)

    ran = run_cli("serve", "--model", "never-promoted", "--port", str(free_port()))

    assert ran.returncode == 2
    assert (
        "error: no version of the model 'never-promoted' is in production yet: `make run-training-pipeline` trains, "
        "exports and promotes one (a version that passes the gates); or serve a version that was not promoted with "
        "--model-version N"
    ) in ran.stderr
    assert not (data_dir / "serve").exists()  # nothing started


def test_a_version_without_its_gguf_is_refused_with_the_fix(tiny_gguf_export, tmp_path: Path) -> None:  # noqa: ANN001
    import shutil

    from llm_engineering.application.serving import GgufChanged, NoGgufExported, find_target

    folder, card = tiny_gguf_export
    record = export_record(folder, card)
    register_version("no-gguf", {**record, "gguf": []}, promote=True)
    with pytest.raises(
        NoGgufExported, match=r"no-gguf version 1 was exported without a GGUF file \(exported: none\): "
    ):
        find_target("no-gguf")
    register_version("with-gguf", record, promote=True)
    with pytest.raises(NoGgufExported, match=r"without a GGUF file in q6_k \(exported: f16, q8_0"):
        find_target("with-gguf", quantization="q6_k")

    # A later export into the same folder replaced the file: the recorded sha256 no longer matches.
    copy = tmp_path / "export"
    shutil.copytree(folder, copy)
    register_version("replaced", {**record, "folder": str(copy)}, promote=True)
    first = card.gguf[0].file
    (copy / first).write_bytes((copy / first).read_bytes()[:-1] + b"\0")
    with pytest.raises(GgufChanged, match=r"is no longer the GGUF replaced version 1 exported \(its sha256 differs"):
        find_target("replaced")
    (copy / first).unlink()
    with pytest.raises(GgufChanged, match=r"replaced version 1's GGUF file .* is gone"):
        find_target("replaced")
    assert find_target("replaced", "1", quantization="q8_0").gguf == copy / "tiny-assistant-q8_0.gguf"
