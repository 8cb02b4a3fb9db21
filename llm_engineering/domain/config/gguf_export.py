"""`export.gguf`: the final merged model as GGUF files (llama.cpp, Ollama, LM Studio), one per quantization."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from llm_engineering.domain.config.base import StrictModel, repeated

# Written directly by llama.cpp's convert_hf_to_gguf.py (`--outtype`). Its tq1_0 / tq2_0 are left out: ternary
# types for BitNet-trained weights, which turn any other model into noise.
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
# Written by llama.cpp's quantizer (llama_model_quantize in libllama, through llama-cpp-python) from an f16 GGUF
# the converter writes first. The i-quants are left out: they need an importance matrix.
QUANTIZER_TYPES = (
    "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"
)  # fmt: skip
GgufQuantization = Literal[
    "f32", "f16", "bf16", "q8_0",
    "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m",
    "q6_k",
]  # fmt: skip
assert get_args(GgufQuantization) == CONVERTER_TYPES + QUANTIZER_TYPES  # one list, spelled twice for the type checker


class GgufExportConfig(StrictModel):
    """One GGUF file per listed quantization, in the export folder next to the merged safetensors model, listed in
    the model card (file, size, sha256) and pushed with it to the Hub. `llm-engineering serve` serves the first."""

    enabled: bool = Field(False, description="write GGUF files of the final model (needs merged or full weights)")
    quantizations: list[GgufQuantization] = Field(
        ["q8_0"],
        min_length=1,
        description="f32, f16, bf16, q8_0: written by llama.cpp's converter; q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, "
        "q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k: by llama.cpp's quantizer from an f16 conversion "
        "(needs llama-cpp-python, which `make install` builds)",
    )

    @field_validator("quantizations")
    @classmethod
    def _each_once(cls, quantizations: list[str]) -> list[str]:
        if twice := repeated(quantizations):
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return quantizations

    def needs_quantizer(self) -> list[tuple[int, str]]:
        """(index, quantization) of the types only llama.cpp's quantizer writes."""
        return [(index, q) for index, q in enumerate(self.quantizations) if q in QUANTIZER_TYPES]
