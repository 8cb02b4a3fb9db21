"""Slow: a few real SFT and DPO steps on SmolLM2-135M with the default LoRA setup; held-out loss must drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import make_instruction_dataset, make_preference_dataset


@pytest.mark.slow
def test_smollm2_lora_sft_lowers_held_out_loss_and_dpo_runs(tmp_path: Path) -> None:
    from llm_engineering.application.evaluation.comparison import evaluate_models
    from llm_engineering.application.training.dpo import train_dpo
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.domain.config.training import BaseModelConfig, DpoConfig, EvaluationConfig, SftConfig

    base = BaseModelConfig()
    sft_config = SftConfig.model_validate(
        {"max_length": 128, "optimization": {"max_steps": 12, "learning_rate": 1e-3, "logging_steps": 4}}
    )
    dpo_config = DpoConfig.model_validate({"max_length": 128, "optimization": {"max_steps": 4, "logging_steps": 2}})
    instruction, preference = make_instruction_dataset(), make_preference_dataset()
    sft = train_sft(instruction, base, sft_config, tmp_path / "sft")
    dpo = train_dpo(sft.model_dir, preference, base, dpo_config, tmp_path / "dpo")
    report = evaluate_models(
        {"sft": sft.model_dir, "dpo": dpo.model_dir},
        instruction,
        preference,
        base,
        EvaluationConfig(generation_samples=1, max_new_tokens=8),
        sft_max_length=128,
        dpo_max_length=128,
        beta=dpo_config.beta,
    )
    assert report.of("sft").eval_loss < report.of("base").eval_loss
    assert report.of("dpo").reward_accuracy is not None
