"""`export.gguf` is checked before any work: known quantizations, each once, and full weights to convert."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_engineering.application.pipeline_runner import load_for
from llm_engineering.application.run_config import ConfigError
from llm_engineering.domain.config.gguf_export import GgufExportConfig
from llm_engineering.domain.config.training import TrainingParameters


def error_for(tmp_path: Path, parameters: dict) -> str:
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    with pytest.raises(ConfigError) as info:
        load_for("training", path)
    return str(info.value)


def test_the_shipped_config_exports_q8_0_and_f16_and_the_default_exports_none() -> None:
    assert GgufExportConfig().enabled is False
    loaded = load_for("training", Path("configs/training.yaml"))
    gguf = loaded.parameters.export.gguf
    assert gguf.enabled and gguf.quantizations == ["q8_0", "f16"]
    assert GgufExportConfig(enabled=True, quantizations=["f16", "q4_k_m"]).needs_quantizer() == [(1, "q4_k_m")]


@pytest.mark.parametrize(
    ("gguf", "message"),
    [
        (
            {"enabled": True, "quantizations": ["q4"]},
            "  parameters.export.gguf.quantizations.0: Input should be 'f32', 'f16', 'bf16', 'q8_0', 'q4_0'",
        ),
        (
            {"enabled": True, "quantizations": ["tq1_0"]},
            "  parameters.export.gguf.quantizations.0: Input should be 'f32', 'f16'",
        ),
        (
            {"enabled": True, "quantizations": ["f16", "f16"]},
            "  parameters.export.gguf.quantizations: Value error, listed more",
        ),
        (
            {"enabled": True, "quantizations": []},
            "  parameters.export.gguf.quantizations: List should have at least 1 item",
        ),
        (
            {"enabled": True, "quantisations": ["f16"]},
            "  parameters.export.gguf.quantisations: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_gguf_block_names_its_field(tmp_path: Path, gguf: dict, message: str) -> None:
    assert message in error_for(tmp_path, {"export": {"gguf": gguf}})


def test_gguf_of_an_adapter_that_is_not_merged_is_refused_with_the_fix() -> None:
    unmerged = {"kind": "sft", "adapter": {"method": "lora", "merge_for_export": False}}
    with pytest.raises(ValueError, match=r"export.gguf.enabled: the final stage 'sft' exports its lora adapter "):
        TrainingParameters.model_validate({"stages": [unmerged], "export": {"gguf": {"enabled": True}}})
    prompt = {"kind": "sft", "adapter": {"method": "prompt_tuning"}}
    with pytest.raises(ValueError, match=r"trains a prompt_tuning adapter, which cannot be merged"):
        TrainingParameters.model_validate({"stages": [prompt], "export": {"gguf": {"enabled": True}}})
    # Off, or full weights: fine.
    TrainingParameters.model_validate({"stages": [unmerged], "export": {"gguf": {"enabled": False}}})
    full = {"kind": "sft", "adapter": {"method": "full"}}
    TrainingParameters.model_validate({"stages": [full], "export": {"gguf": {"enabled": True}}})
