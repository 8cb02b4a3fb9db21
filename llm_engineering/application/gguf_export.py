"""GGUF files of an exported (merged or full) model folder, one per configured quantization, written atomically.

Each file is written under a temporary name in the export folder (`.<file>.partial`) and renamed when it is
complete, so a failed or interrupted conversion never leaves a file that looks finished; the partial file is
removed on failure. Converter types (f16, q8_0, ...) come straight from llama.cpp's converter; quantizer types
(q4_k_m, ...) from llama.cpp's quantizer applied to an f16 conversion (the listed f16 file when there is one,
else a temporary one).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from llm_engineering.domain.config.gguf_export import CONVERTER_TYPES, GgufExportConfig
from llm_engineering.domain.model_summary import GgufFile
from llm_engineering.infrastructure import gguf_converter, gguf_quantizer
from llm_engineering.infrastructure.model_identity import file_sha256


def gguf_name(title: str, quantization: str) -> str:
    return f"{title}-{quantization}.gguf"


def export_gguf(
    folder: Path, title: str, config: GgufExportConfig, on_file: Callable[[GgufFile], None] | None = None
) -> list[GgufFile]:
    """Writes `<title>-<quantization>.gguf` into `folder` (a Hugging Face model folder with full weights) for each of
    config.quantizations, in order; returns them described. Raises what the converter or quantizer raises."""
    written: list[GgufFile] = []
    f16_source: Path | None = None  # the f16 conversion the quantizer types start from
    scratch_f16: Path | None = None
    try:
        for quantization in config.quantizations:
            target = folder / gguf_name(title, quantization)
            if quantization in CONVERTER_TYPES:
                with _atomic(target) as partial:
                    gguf_converter.convert(folder, partial, quantization)
                if quantization == "f16":
                    f16_source = target
            else:
                if f16_source is None:
                    scratch_f16 = folder / f".{gguf_name(title, 'f16')}.scratch"
                    gguf_converter.convert(folder, scratch_f16, "f16")
                    f16_source = scratch_f16
                with _atomic(target) as partial:
                    gguf_quantizer.quantize(f16_source, partial, quantization)
            described = describe(target, quantization)
            written.append(described)
            if on_file is not None:
                on_file(described)
    finally:
        if scratch_f16 is not None:
            scratch_f16.unlink(missing_ok=True)
    return written


@contextmanager
def _atomic(target: Path):  # noqa: ANN202 - a context manager yielding the temporary path
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def describe(path: Path, quantization: str) -> GgufFile:
    return GgufFile(file=path.name, quantization=quantization, size_bytes=path.stat().st_size, sha256=file_sha256(path))
