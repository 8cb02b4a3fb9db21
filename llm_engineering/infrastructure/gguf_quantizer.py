"""llama.cpp's own quantizer (`llama_model_quantize` in libllama, what the llama-quantize tool calls), reached
through llama-cpp-python's bindings and run in a subprocess, so that a crash in C fails the export, not the step.

It writes the k-quants and the legacy 4/5-bit types that the converter cannot (convert_hf_to_gguf.py stops at
q8_0), from an f16 GGUF. Tensors whose rows do not divide into 256 (SmolLM2's 576) get llama.cpp's own fallback
type for that tensor, as llama-quantize does.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from llm_engineering.infrastructure.gguf_converter import GgufConversionFailed, tail

QUANTIZER_HINT = "llama-cpp-python is not installed; `make install` builds it (the `serve` extra)"


class GgufQuantizerMissing(RuntimeError):
    """llama-cpp-python (which carries libllama and its quantizer) is not importable here."""


def quantizer_problem() -> str | None:
    """Why the quantizer cannot run here, or None. Looks for the package without loading libllama."""
    return None if importlib.util.find_spec("llama_cpp") is not None else QUANTIZER_HINT


def ftype_of(quantization: str) -> int:
    """The llama_ftype constant of a quantization name (q4_k_m -> LLAMA_FTYPE_MOSTLY_Q4_K_M)."""
    import llama_cpp

    return int(getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quantization.upper()}"))


def quantize(source: Path, outfile: Path, quantization: str, threads: int = 0, timeout_s: float | None = None) -> None:
    """Writes `outfile` (a temporary name the caller renames) from the f16/f32 GGUF `source`."""
    problem = quantizer_problem()
    if problem is not None:
        raise GgufQuantizerMissing(problem)
    command = [sys.executable, "-m", __name__, str(source), str(outfile), quantization, str(threads)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if completed.returncode != 0 or not outfile.is_file():
        raise GgufConversionFailed(
            f"llama.cpp's quantizer failed on {source} ({quantization}, exit status {completed.returncode}):\n"
            + tail(completed.stdout + completed.stderr)
        )


def _main(source: str, outfile: str, quantization: str, threads: str) -> int:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype_of(quantization)
    params.nthread = int(threads)
    status = llama_cpp.llama_model_quantize(source.encode(), outfile.encode(), params)
    if status != 0:
        print(f"llama_model_quantize returned {status}", file=sys.stderr)
    return int(status != 0)


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:5]))
