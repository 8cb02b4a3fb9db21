"""llama.cpp's own Hugging Face -> GGUF converter (convert_hf_to_gguf.py), run as a subprocess of this venv's python.

The converter is not on PyPI as a package: it ships in the llama-cpp-python source distribution, under
vendor/llama.cpp, with its `conversion/` model classes and the `gguf-py` it was written against. The llama-cpp-python
wheel keeps none of it, so `make install` unpacks those three from the pinned sdist into the venv
(`python -m llm_engineering.infrastructure.gguf_converter`), and the conversion runs offline from there.

The converter uses its own gguf-py, not the `gguf` wheel on PyPI: the two carry the same version number (0.19.0)
but the PyPI wheel lacks what this converter calls (`gguf.LazyChunkedTensor`). The installed `gguf` package is what
we read GGUF files with.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# The llama-cpp-python release whose vendor/llama.cpp converter we run; the same pin as pyproject's `serve` extra.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
CONVERTER_MEMBERS = (CONVERTER_SCRIPT, "conversion", "gguf-py", "LICENSE")
_UNSUPPORTED = re.compile(r"Model (\S+) is not supported")
INSTALL_HINT = "run `make install` (it unpacks the converter from the pinned llama-cpp-python sdist)"


class GgufConverterMissing(RuntimeError):
    """The converter is not unpacked in this venv."""


class GgufUnsupportedArchitecture(ValueError):
    """The converter has no model class for the model's `architectures` entry."""

    def __init__(self, architecture: str, model_dir: Path) -> None:
        self.architecture = architecture
        super().__init__(
            f"llama.cpp's converter (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}) does not support the architecture "
            f"{architecture!r} of {model_dir}: export it without GGUF (export.gguf.enabled: false), or train a "
            "base model of a supported architecture (Llama, Qwen2, Mistral, Gemma, Phi3, ...; `python "
            f"{converter_script()} --print-supported-models` lists them)"
        )


class GgufConversionFailed(RuntimeError):
    """The converter or quantizer exited non-zero for another reason; the message ends with its output's tail."""


def converter_dir() -> Path:
    """Where `make install` unpacks the converter: inside the venv, so it comes and goes with the install."""
    return Path(sys.prefix) / "share" / "llm-engineering" / f"llama.cpp-convert-{LLAMA_CPP_PYTHON_VERSION}"


def converter_script() -> Path:
    return converter_dir() / CONVERTER_SCRIPT


def converter_problem() -> str | None:
    """Why the converter cannot run here, or None when it can (checked by `validate`, before any work)."""
    folder = converter_dir()
    missing = [name for name in CONVERTER_MEMBERS if not (folder / name).exists()]
    if missing:
        return f"llama.cpp's GGUF converter is not installed ({', '.join(missing)} missing in {folder}): {INSTALL_HINT}"
    for module in ("sentencepiece", "torch", "transformers", "numpy"):  # what the converter imports up front
        if importlib.util.find_spec(module) is None:
            return f"llama.cpp's GGUF converter needs the {module} package, which is not installed: {INSTALL_HINT}"
    return None


def convert(model_dir: Path, outfile: Path, outtype: str, timeout_s: float | None = None) -> None:
    """Writes `outfile` from the Hugging Face folder `model_dir`; raises GgufUnsupportedArchitecture or
    GgufConversionFailed. The caller owns atomicity: `outfile` is a temporary name it renames on success."""
    problem = converter_problem()
    if problem is not None:
        raise GgufConverterMissing(problem)
    env = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}  # use its own gguf-py
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    command = [
        sys.executable, str(converter_script()), str(model_dir), "--outfile", str(outfile), "--outtype", outtype,
    ]  # fmt: skip
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout_s, check=False, cwd=converter_dir()
    )
    if completed.returncode == 0 and outfile.is_file():
        return
    output = f"{completed.stdout}\n{completed.stderr}"
    unsupported = _UNSUPPORTED.search(output)
    if unsupported:
        raise GgufUnsupportedArchitecture(unsupported.group(1), model_dir)
    raise GgufConversionFailed(
        f"llama.cpp's converter failed on {model_dir} (--outtype {outtype}, exit status {completed.returncode}):\n"
        + tail(output)
    )


def tail(output: str, lines: int = 15) -> str:
    return "\n".join(line for line in output.strip().splitlines()[-lines:])


def install_converter(sdist: Path | None = None) -> Path:
    """Unpacks the converter from the llama-cpp-python sdist (`sdist`, or `pip download`ed into pip's cache) into
    converter_dir(); a no-op when it is there. Atomic: unpacked beside it, then renamed."""
    target = converter_dir()
    if all((target / name).exists() for name in CONVERTER_MEMBERS):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpacking-") as scratch:
        archive = sdist or _download_sdist(Path(scratch))
        unpacked = Path(scratch) / "converter"
        prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
        with tarfile.open(archive) as tar:
            members = [
                member for member in tar.getmembers()
                if member.name.startswith(prefix) and member.name[len(prefix):].split("/")[0] in CONVERTER_MEMBERS
            ]  # fmt: skip
            if not any(member.name == prefix + CONVERTER_SCRIPT for member in members):
                raise GgufConverterMissing(f"{archive} holds no {prefix}{CONVERTER_SCRIPT}")
            for member in members:
                member.name = member.name[len(prefix) :]
            tar.extractall(unpacked, members=members, filter="data")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def _download_sdist(folder: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-binary", ":all:", "--no-deps",
        f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(folder),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if completed.returncode != 0 or not found:
        raise GgufConverterMissing(
            f"could not download the llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist for its GGUF converter:\n"
            + tail(completed.stdout + completed.stderr)
        )
    return found[0]


if __name__ == "__main__":  # `make install`: python -m llm_engineering.infrastructure.gguf_converter [SDIST]
    print(f"GGUF converter: {install_converter(Path(sys.argv[1]) if len(sys.argv) > 1 else None)}")
