"""GRPO and RLOO for real on the tiny random Llama: a reward that moves, exports that load, reruns that resume,
reward functions that fail loudly, and the reward-model reward on a real sequence-classification folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_engineering.application.training.online_rl import train_online_rl
from llm_engineering.application.training.reward_functions import RewardFunctionError, resolve_reward
from llm_engineering.domain.config.rl_stages import GrpoStageConfig, RewardSpec, RlooStageConfig
from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from tests.integration.conftest import make_instruction_dataset


def sft_policy(tiny_model_dir: Path, folder: Path, method: str) -> Path:
    from llm_engineering.application.training.sft import train_sft

    config = SftConfig.model_validate(
        {
            "adapter": {"method": method},
            "max_length": 64,
            "optimization": {"max_steps": 3, "logging_steps": 1, "save_steps": 50, "learning_rate": 5e-2},
        }
    )
    return train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, folder).model_dir


@pytest.fixture(scope="module")
def lora_policy(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sft_policy(tiny_model_dir, tmp_path_factory.mktemp("sft-lora"), "lora")


def rl_config(kind: str = "grpo", learning_rate: float = 1e-2, max_steps: int = 4, **fields: object):
    config_class = GrpoStageConfig if kind == "grpo" else RlooStageConfig
    return config_class.model_validate(
        {
            "kind": kind,
            "rewards": [{"name": "length", "params": {"target": 20}}],
            "num_generations": 4,
            "max_completion_length": 16,
            "optimization": {
                "max_steps": max_steps,
                "learning_rate": learning_rate,
                "lr_scheduler_type": "constant",
                "warmup_ratio": 0.0,
                "per_device_train_batch_size": 8,  # completions: 2 prompts x 4 generations per step
                "logging_steps": 1,
                "save_steps": 2,
            },
            **fields,
        }
    )


def adapter_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as weights:
        return list(weights.keys())


def test_grpo_moves_the_greedy_heldout_length_reward_towards_its_target(
    tiny_model_dir: Path, lora_policy: Path, tmp_path: Path
) -> None:
    from llm_engineering.infrastructure.causal_lm import load_trained_model, read_training_info

    base = BaseModelConfig(name=str(tiny_model_dir))
    result = train_online_rl(lora_policy, make_instruction_dataset(), base, rl_config(), tmp_path / "grpo")

    metrics = result.metrics
    # Greedy answers of the SFT policy are one long "word"; 4 steps of GRPO towards 20 words make them longer.
    assert metrics["heldout_reward_after"] > metrics["heldout_reward_before"] + 0.3, metrics
    assert metrics["heldout_length_after"] == metrics["heldout_reward_after"]  # one function of weight 1
    assert (metrics["train_prompts"], metrics["train_prompts_too_long"], metrics["heldout_prompts"]) == (12, 0, 4)
    logged = [entry["rewards/length/mean"] for entry in result.log_history if "rewards/length/mean" in entry]
    assert len(logged) == 4 and all(-1.0 <= value <= 0.0 for value in logged)
    assert metrics["train_length_last"] == logged[-1]
    info = read_training_info(result.model_dir)
    assert (info.stage, info.method, info.is_adapter) == ("grpo", "lora", True)
    assert not [key for key in adapter_keys(result.model_dir) if ".ref." in key]
    load_trained_model(result.model_dir)


def test_with_a_tiny_learning_rate_the_heldout_reward_does_not_move(
    tiny_model_dir: Path, lora_policy: Path, tmp_path: Path
) -> None:
    """The control of the test above: its margin comes from training, not from sampling noise."""
    base = BaseModelConfig(name=str(tiny_model_dir))
    config = rl_config(learning_rate=1e-9)
    result = train_online_rl(lora_policy, make_instruction_dataset(), base, config, tmp_path / "grpo")
    assert result.metrics["heldout_reward_after"] == pytest.approx(result.metrics["heldout_reward_before"])


def ends_a_sentence(prompts, completions, **columns):
    """A user reward function (dotted path): 1 for an answer ending with a full stop."""
    return [float(completion[0]["content"].rstrip().endswith(".")) for completion in completions]


def test_rloo_on_a_full_model_with_kl_and_two_weighted_rewards_exports_a_folder_that_loads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_engineering.infrastructure.causal_lm import read_training_info

    policy = sft_policy(tiny_model_dir, tmp_path / "sft", "full")
    config = rl_config(
        "rloo",
        max_steps=2,
        beta=0.05,
        rewards=[
            {"name": "length", "params": {"target": 20}},
            {"name": "tests.integration.test_online_rl:ends_a_sentence", "weight": 0.5},
        ],
    )
    base = BaseModelConfig(name=str(tiny_model_dir))
    result = train_online_rl(policy, make_instruction_dataset(), base, config, tmp_path / "rloo")

    metrics = result.metrics
    assert metrics["heldout_reward_after"] == pytest.approx(
        metrics["heldout_length_after"] + 0.5 * metrics["heldout_ends_a_sentence_after"]
    )
    assert any("rewards/ends_a_sentence/mean" in entry for entry in result.log_history)
    assert any("kl" in entry for entry in result.log_history)  # beta > 0: measured against the reference
    info = read_training_info(result.model_dir)
    assert (info.stage, info.method, info.is_adapter) == ("rloo", "full", False)
    exported = AutoModelForCausalLM.from_pretrained(str(result.model_dir), local_files_only=True)
    started = AutoModelForCausalLM.from_pretrained(str(policy), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(result.model_dir), local_files_only=True)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(str(policy)).chat_template
    conversation = [{"role": "user", "content": "Explain ZenML."}]
    ids = torch.tensor([list(tokenizer.apply_chat_template(conversation, return_dict=True)["input_ids"])])
    with torch.no_grad():
        assert not torch.allclose(exported(ids).logits, started(ids).logits, atol=1e-6)


def test_a_rerun_resumes_from_the_last_checkpoint(tiny_model_dir: Path, lora_policy: Path, tmp_path: Path) -> None:
    base = BaseModelConfig(name=str(tiny_model_dir))
    config = rl_config(max_steps=2)
    first = train_online_rl(lora_policy, make_instruction_dataset(), base, config, tmp_path / "grpo")
    assert first.resumed_from is None
    second = train_online_rl(lora_policy, make_instruction_dataset(), base, config, tmp_path / "grpo")
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-2")


def fails_in_training(prompts, completions, trainer_state=None, **columns):
    """Scores the held-out answers (no trainer_state), then fails on TRL's first batch."""
    if trainer_state is not None:
        raise ValueError(f"cannot score {len(completions)} completions")
    return [0.0] * len(completions)


def test_a_reward_function_failing_in_training_stops_the_stage_naming_it_and_the_batch(
    tiny_model_dir: Path, lora_policy: Path, tmp_path: Path
) -> None:
    from llm_engineering.application.training.sft import FINAL_FOLDER

    config = rl_config(rewards=[{"name": "tests.integration.test_online_rl:fails_in_training"}])
    base = BaseModelConfig(name=str(tiny_model_dir))
    with pytest.raises(RewardFunctionError) as raised:
        train_online_rl(lora_policy, make_instruction_dataset(), base, config, tmp_path / "grpo")
    # Batch 0 was the held-out answers before training; batch 1 TRL's first generation batch (8 completions).
    assert str(raised.value) == (
        "reward function 'fails_in_training' failed on batch 1: ValueError: cannot score 8 completions"
    )
    assert not (tmp_path / "grpo" / FINAL_FOLDER).exists()


def test_a_reward_reading_a_column_the_dataset_lacks_fails_before_training(
    tiny_model_dir: Path, lora_policy: Path, tmp_path: Path
) -> None:
    config = rl_config(rewards=[{"name": "grounding"}])
    with pytest.raises(RewardFunctionError) as raised:
        train_online_rl(
            lora_policy, make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, tmp_path
        )
    assert str(raised.value).startswith(
        "reward function 'grounding' reads column(s) ['extract'], which the instruction dataset lacks (has ["
    )
    assert not list(tmp_path.iterdir())


def test_max_prompt_length_leaves_out_longer_prompts_and_all_of_them_is_an_error(
    tiny_model_dir: Path, lora_policy: Path, tmp_path: Path
) -> None:
    from llm_engineering.application.training.data_preparation import DatasetError

    config = rl_config(max_prompt_length=4)
    with pytest.raises(DatasetError) as raised:
        train_online_rl(
            lora_policy, make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, tmp_path
        )
    assert str(raised.value) == (
        "grpo.max_prompt_length=4 leaves out every prompt of the train split (12 instructions); raise "
        "grpo.max_prompt_length"
    )


def test_reward_model_reward_scores_the_answers_with_the_folder_it_is_given(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

    folder = tmp_path / "reward-model"
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=1).save_pretrained(folder)
    apply_chat_template(AutoTokenizer.from_pretrained(str(tiny_model_dir))).save_pretrained(folder)

    answers = ["LoRA trains low-rank adapters.", "I do not know, sorry!!!"]
    prompts = [[{"role": "user", "content": "Explain LoRA."}]] * 2
    expected = RewardModelScorer(folder).score(["Explain LoRA."] * 2, answers)
    from_params = resolve_reward(RewardSpec(name="reward_model", params={"folder": str(folder)}))
    from_pipeline = resolve_reward(RewardSpec(name="reward_model"), {"reward_model_dir": folder})
    for reward in (from_params, from_pipeline):
        completions = [[{"role": "assistant", "content": answer}] for answer in answers]
        assert reward(prompts=prompts, completions=completions) == pytest.approx(expected)
    assert expected[0] != expected[1]

    with pytest.raises(RewardFunctionError) as raised:
        resolve_reward(RewardSpec(name="reward_model"), {})
    assert str(raised.value) == (
        "reward function 'reward_model' has no folder: set params.folder, or put a reward_model stage before this one"
    )
