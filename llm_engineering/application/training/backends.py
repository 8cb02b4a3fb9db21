"""Which trainer runs: unsloth on a CUDA GPU when available, else TRL + PEFT (the CPU path).

Checked when the training step starts, on the machine that trains, so a GPU step operator's node decides.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from llm_engineering.domain.config.training import GPU_ONLY_OPTIMIZERS

Backend = Literal["trl", "unsloth"]


class HardwareError(RuntimeError):
    """The config asks for something this machine cannot do (no CUDA GPU, unsloth not installed)."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def resolve_backend(backend: str, method: str, optimizers: dict[str, str], has_cuda: bool | None = None) -> Backend:
    """`optimizers`: {"sft": "adamw_torch", "dpo": ...}."""
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    needs_gpu = []
    if backend == "unsloth":
        needs_gpu.append("backend: unsloth")
    if method == "qlora":
        needs_gpu.append("sft.adapter.method: qlora (4-bit bitsandbytes)")
    for stage, optim in optimizers.items():
        if optim in GPU_ONLY_OPTIMIZERS:
            needs_gpu.append(f"{stage}.optimization.optim: {optim}")
    if needs_gpu and not has_cuda:
        raise HardwareError(f"{', '.join(needs_gpu)} need(s) a CUDA GPU, and this machine has none")
    if backend == "unsloth" and not unsloth_installed():
        raise HardwareError("backend: unsloth, but unsloth is not installed (install the project with `.[gpu]`)")
    if backend == "auto":
        return "unsloth" if has_cuda and unsloth_installed() else "trl"
    return backend  # type: ignore[return-value]


def device_for(has_cuda: bool | None = None) -> str:
    return "cuda" if (cuda_available() if has_cuda is None else has_cuda) else "cpu"
