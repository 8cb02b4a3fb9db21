"""What `llm-engineering serve` serves: a model version from the ZenML model registry (the production one unless
told otherwise), the GGUF file its export wrote (checked against the sha256 recorded at export), and the backend
that serves it here (llama.cpp's server on the GGUF, or vLLM on the merged safetensors where a GPU and vLLM are)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from llm_engineering.domain.model_summary import recorded_export
from llm_engineering.infrastructure.model_identity import file_sha256
from llm_engineering.infrastructure.model_server import ServerSpec

DEFAULT_MODEL = "llm-engineering-assistant"  # the training pipeline's Model name (pipelines/training.py)
PRODUCTION = "production"
TRAIN_HINT = "`make run-training-pipeline` trains, exports and promotes one (a version that passes the gates)"
Backend = Literal["auto", "llama_cpp", "vllm"]


class ServeError(RuntimeError):
    """Why nothing can be served; the message says what to do."""


class NoProductionModel(ServeError):
    pass


class ModelVersionNotFound(ServeError):
    pass


class NoGgufExported(ServeError):
    pass


class GgufChanged(ServeError):
    pass


class ServeTarget(BaseModel):
    """One model version's exported files, as the server needs them."""

    model: str
    version: str
    number: int
    stage: str | None
    folder: Path  # the merged safetensors model (what vLLM serves)
    gguf: Path | None  # the GGUF file llama.cpp's server serves
    quantization: str | None

    def describe(self) -> str:
        stage = f", {self.stage}" if self.stage else ""
        served = f"{self.gguf.name}" if self.gguf else str(self.folder)
        return f"{self.model} version {self.version} (#{self.number}{stage}): {served}"


def find_target(
    model: str = DEFAULT_MODEL,
    version: str | None = None,
    quantization: str | None = None,
    require_gguf: bool = True,
    check_sha256: bool = True,
) -> ServeTarget:
    """The model version `version` (a name, a number or a stage), or the production one when None; its GGUF file
    (the first exported, or the one in `quantization`) unless not `require_gguf` (vLLM serves the folder)."""
    from zenml.client import Client

    wanted: Any = int(version) if version is not None and version.isdigit() else (version or PRODUCTION)
    try:
        found = Client().get_model_version(model, wanted)
    except KeyError:
        if version is None:
            raise NoProductionModel(
                f"no version of the model {model!r} is in production yet: {TRAIN_HINT}; or serve a version that was "
                "not promoted with --model-version N"
            ) from None
        raise ModelVersionNotFound(
            f"the model {model!r} has no version {version!r} in this ZenML store (its versions: "
            f"{', '.join(_version_names(model)) or 'none'}); {TRAIN_HINT}"
        ) from None
    exported = recorded_export(found.run_metadata)
    label = f"{model} version {found.name}"
    if exported is None:
        raise NoGgufExported(f"{label} has no export recorded (its training run did not reach export): {TRAIN_HINT}")
    stage = found.stage.value if hasattr(found.stage, "value") else found.stage
    target = ServeTarget(
        model=model, version=str(found.name), number=int(found.number), stage=stage,
        folder=exported.folder, gguf=None, quantization=None,
    )  # fmt: skip
    files = exported.gguf
    if not require_gguf and not files:
        return target
    if quantization is not None:
        files = [entry for entry in files if entry.quantization == quantization]
    if not files:
        which = f" in {quantization}" if quantization else ""
        listed = ", ".join(entry.quantization for entry in exported.gguf) or "none"
        raise NoGgufExported(
            f"{label} was exported without a GGUF file{which} (exported: {listed}): set export.gguf.enabled: true "
            "(and its quantizations) in configs/training.yaml and rerun `make run-training-pipeline`"
        )
    entry = files[0]
    path = target.folder / entry.file
    if not path.is_file():
        raise GgufChanged(
            f"{label}'s GGUF file {path} is gone (the export folder was cleaned or replaced): rerun "
            "`make run-training-pipeline`, or give each run its own export.folder"
        )
    if check_sha256 and file_sha256(path) != entry.sha256:
        raise GgufChanged(
            f"{path} is no longer the GGUF {label} exported (its sha256 differs: a later run exported into the same "
            "folder); serve that later version with --model-version, or rerun `make run-training-pipeline`"
        )
    return target.model_copy(update={"gguf": path, "quantization": entry.quantization})


def _version_names(model: str) -> list[str]:
    from zenml.client import Client

    try:
        page = Client().list_model_versions(model_name_or_id=model, size=20, sort_by="desc:number")
    except KeyError:  # no such model at all
        return []
    return [f"{item.number} ({item.stage.value})" if item.stage else str(item.number) for item in page.items]


def choose_backend(requested: Backend = "auto") -> Literal["llama_cpp", "vllm"]:
    """auto: vLLM where it is installed and a CUDA GPU is visible, else llama.cpp's server (CPU)."""
    if requested != "auto":
        return requested
    if importlib.util.find_spec("vllm") is None:
        return "llama_cpp"
    import torch

    return "vllm" if torch.cuda.is_available() else "llama_cpp"


def backend_problem(backend: str) -> str | None:
    """Why `backend` cannot run here, or None. Looks for the packages without importing them."""
    needed = (
        ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")
        if backend == "llama_cpp"
        else ("vllm",)
    )
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    if backend == "llama_cpp":
        return f"llama-cpp-python's server is not installed ({', '.join(missing)} missing): run `make install`"
    return "vLLM is not installed in this venv: `pip install vllm` on a GPU machine, or use --backend llama_cpp"


def server_spec(target: ServeTarget, backend: str, host: str, port: int, n_ctx: int = 2048) -> ServerSpec:
    """llama.cpp's server on the GGUF file; vLLM on the merged safetensors folder."""
    if backend == "vllm":
        if not any(target.folder.glob("*.safetensors")):
            raise NoGgufExported(f"{target.folder} holds no safetensors weights for vLLM to serve")
        return ServerSpec(
            backend="vllm", model_path=target.folder, alias=target.model, host=host, port=port, n_ctx=n_ctx
        )
    if target.gguf is None:
        raise NoGgufExported(f"{target.describe()} has no GGUF file for llama.cpp's server")
    return ServerSpec(
        backend="llama_cpp", model_path=target.gguf, alias=target.model, host=host, port=port, n_ctx=n_ctx
    )
