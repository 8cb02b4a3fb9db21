"""Which trainer runs: unsloth on a CUDA GPU when available, else TRL + PEFT (the CPU path).

Checked when the training step starts, on the machine that trains, so a GPU step operator's node decides.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from llm_engineering.domain.config.training import FLASH_ATTENTION, GPU_ONLY_OPTIMIZERS

Backend = Literal["trl", "unsloth"]


class HardwareError(RuntimeError):
    """The config asks for something this machine cannot do (no CUDA GPU, unsloth not installed)."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def flash_attention_installed(attn_implementation: str) -> bool:
    # transformers' own checks (package, version and a CUDA device); no fallback to downloading Hub kernels.
    from transformers.utils import import_utils

    return {
        "flash_attention_2": import_utils.is_flash_attn_2_available,
        "flash_attention_3": import_utils.is_flash_attn_3_available,
    }[attn_implementation]()


def check_attention(attn_implementation: str, has_cuda: bool | None = None) -> None:
    """Flash attention needs a CUDA GPU and its package; said before any model is loaded."""
    if attn_implementation not in FLASH_ATTENTION:
        return
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    field = f"base_model.attn_implementation: {attn_implementation}"
    if not has_cuda:
        raise HardwareError(f"{field} needs a CUDA GPU, and this machine has none; use sdpa")
    if not flash_attention_installed(attn_implementation):
        package = "flash-attn" if attn_implementation == "flash_attention_2" else "flash-attn-3 (flash_attn_interface)"
        raise HardwareError(f"{field}, but {package} is not installed for this GPU; install it or use sdpa")


def resolve_backend(
    backend: str,
    method: str,
    optimizers: dict[str, str],
    has_cuda: bool | None = None,
    attn_implementation: str = "sdpa",
) -> Backend:
    """`optimizers`: {"sft": "adamw_torch", "dpo": ...}."""
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    needs_gpu = []
    if attn_implementation in FLASH_ATTENTION:
        needs_gpu.append(f"base_model.attn_implementation: {attn_implementation}")
    if backend == "unsloth":
        needs_gpu.append("backend: unsloth")
    if method == "qlora":
        needs_gpu.append("sft.adapter.method: qlora (4-bit bitsandbytes)")
    for stage, optim in optimizers.items():
        if optim in GPU_ONLY_OPTIMIZERS:
            needs_gpu.append(f"{stage}.optimization.optim: {optim}")
    if needs_gpu and not has_cuda:
        raise HardwareError(f"{', '.join(needs_gpu)} need(s) a CUDA GPU, and this machine has none")
    check_attention(attn_implementation, has_cuda)
    if backend == "unsloth" and not unsloth_installed():
        raise HardwareError("backend: unsloth, but unsloth is not installed (install the project with `.[gpu]`)")
    if backend == "auto":
        return "unsloth" if has_cuda and unsloth_installed() else "trl"
    return backend  # type: ignore[return-value]


def device_for(has_cuda: bool | None = None) -> str:
    return "cuda" if (cuda_available() if has_cuda is None else has_cuda) else "cpu"
