"""The reward_model stage's config: its defaults, and the adapter methods it refuses (naming the field)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.domain.config.reward_model_stage import RewardModelStageConfig


def test_defaults_are_a_lora_reward_model_from_the_base_model() -> None:
    config = RewardModelStageConfig(kind="reward_model")
    assert (config.kind, config.name, config.start_from) == ("reward_model", None, "base")
    assert (config.adapter.method, config.adapter.r) == ("lora", 8)
    assert config.adapter.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert config.optimization.learning_rate == 1e-4 and config.max_length == 384
    assert config.resume_from_checkpoint is True
    assert RewardModelStageConfig(kind="reward_model", start_from="sft").start_from == "sft"


@pytest.mark.parametrize("method", ["qlora", "ia3", "prompt_tuning", "prefix_tuning", "p_tuning"])
def test_an_adapter_method_it_cannot_merge_is_refused_naming_the_field(method: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RewardModelStageConfig.model_validate({"kind": "reward_model", "adapter": {"method": method}})
    [error] = caught.value.errors()
    assert error["loc"] == ("adapter",)
    assert error["msg"] == (
        f"Value error, adapter.method {method!r} is not supported by the reward_model stage; "
        "choose one of ['full', 'lora', 'dora']"
    )


@pytest.mark.parametrize("method", ["full", "lora", "dora"])
def test_full_lora_and_dora_are_accepted(method: str) -> None:
    assert (
        RewardModelStageConfig.model_validate({"kind": "reward_model", "adapter": {"method": method}}).adapter.method
        == method
    )


def test_unknown_keys_and_other_kinds_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"max_lenght\n  Extra inputs are not permitted"):
        RewardModelStageConfig.model_validate({"kind": "reward_model", "max_lenght": 128})
    with pytest.raises(ValidationError, match=r"kind\n  Input should be 'reward_model'"):
        RewardModelStageConfig.model_validate({"kind": "sft"})
