"""Reward-model stage on a tiny random Llama: it learns the preference, exports a folder RewardModelScorer loads,
resumes from its checkpoints, starts from a trained SFT adapter, and refuses folders that are not reward models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llm_engineering.domain.config.reward_model_stage import RewardModelStageConfig
from llm_engineering.domain.config.training import BaseModelConfig
from tests.integration.conftest import make_preference_dataset

MAX_STEPS, SAVE_STEPS = 40, 20
SEED = 3  # a seed whose untrained score head prefers the rejected answers: the test fails unless training works


def reward_config(**extra: object) -> RewardModelStageConfig:
    optimization = {
        "max_steps": MAX_STEPS,
        "learning_rate": 5e-3,
        "warmup_ratio": 0.0,
        "logging_steps": 5,
        "save_steps": SAVE_STEPS,
        "seed": SEED,
        **extra.pop("optimization", {}),  # type: ignore[dict-item]
    }
    return RewardModelStageConfig.model_validate(
        {"kind": "reward_model", "max_length": 64, "optimization": optimization, **extra}
    )


def preferences():
    return make_preference_dataset(train=16, test=8)


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One uninterrupted reward-model run (LoRA), shared by the tests that read it."""
    from llm_engineering.application.training.reward_model import train_reward_model

    output_dir = tmp_path_factory.mktemp("reward") / "reward_model"
    base = BaseModelConfig(name=str(tiny_model_dir))
    return train_reward_model(str(tiny_model_dir), preferences(), base, reward_config(), output_dir)


def test_untrained_head_does_not_already_prefer_the_chosen_answers(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The baseline the training test is measured against: the classifier training starts from (same seed)."""
    from transformers import set_seed

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.application.training.reward_model import load_sequence_classifier, pairwise_accuracy
    from llm_engineering.infrastructure.causal_lm import load_tokenizer
    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

    set_seed(SEED)
    model = load_sequence_classifier(str(tiny_model_dir), BaseModelConfig(name=str(tiny_model_dir)), tmp_path)
    tokenizer = apply_chat_template(load_tokenizer(str(tiny_model_dir)))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp_path / "untrained")
    tokenizer.save_pretrained(tmp_path / "untrained")

    untrained = pairwise_accuracy(RewardModelScorer(tmp_path / "untrained", max_length=64), preferences()["test"])

    assert untrained["reward_accuracy"] <= 0.5 and abs(untrained["reward_margin"]) < 0.1, untrained


def test_reward_model_learns_the_preference_on_held_out_pairs(trained) -> None:
    from llm_engineering.infrastructure.causal_lm import read_training_info

    metrics = trained.metrics
    assert metrics["reward_accuracy"] >= 0.75, metrics
    assert metrics["reward_margin"] > 1.0, metrics
    assert metrics["train_pairs"] == 16 and metrics["test_pairs"] == 8
    # Our measure, on the exported folder, agrees with TRL's on the model in memory: the merge lost nothing.
    assert metrics["reward_margin"] == pytest.approx(metrics["eval_margin"], abs=1e-4)
    losses = [entry["loss"] for entry in trained.log_history if "loss" in entry]
    assert len(losses) == MAX_STEPS // 5 and losses[-1] < losses[0]
    assert trained.model_dir.name == "final" and trained.resumed_from is None
    info = read_training_info(trained.model_dir)
    assert (info.stage, info.method, info.is_adapter) == ("reward_model", "lora", False)
    assert not (trained.model_dir / "adapter_config.json").exists()  # merged: a plain classifier folder


def test_exported_folder_scores_chosen_above_rejected(trained) -> None:
    from transformers import AutoModelForSequenceClassification

    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

    assert AutoModelForSequenceClassification.from_pretrained(str(trained.model_dir)).config.num_labels == 1
    test = preferences()["test"]
    scorer = RewardModelScorer(trained.model_dir)
    chosen = scorer.score(test["prompt"], test["chosen"], batch_size=3)  # batches of uneven lengths, padded
    rejected = scorer.score(test["prompt"], test["rejected"], batch_size=3)
    assert all(good > bad for good, bad in zip(chosen, rejected, strict=True)), (chosen, rejected)
    # Padding does not change a score: one at a time gives the same numbers.
    assert scorer.score(test["prompt"][:1], test["chosen"][:1], batch_size=1)[0] == pytest.approx(chosen[0], abs=1e-5)


def test_rerun_resumes_from_the_last_complete_checkpoint_and_ends_where_the_whole_run_did(
    trained, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """What a kill after checkpoint-20 leaves (and a kill while writing checkpoint-40: weights, no trainer state);
    the rerun resumes from checkpoint-20, trains only the remaining steps and ends at the uninterrupted result."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from llm_engineering.application.training.reward_model import train_reward_model
    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

    uninterrupted = trained.model_dir.parent
    output_dir = tmp_path / "reward_model"
    output_dir.mkdir()
    shutil.copytree(uninterrupted / f"checkpoint-{SAVE_STEPS}", output_dir / f"checkpoint-{SAVE_STEPS}")
    half_written = output_dir / f"checkpoint-{MAX_STEPS}"
    half_written.mkdir()
    shutil.copy(uninterrupted / f"checkpoint-{MAX_STEPS}" / "adapter_model.safetensors", half_written)

    optimizer_steps = []
    counting = register_optimizer_step_post_hook(lambda *_: optimizer_steps.append(1))
    try:
        rerun = train_reward_model(
            str(tiny_model_dir), preferences(), BaseModelConfig(name=str(tiny_model_dir)), reward_config(), output_dir
        )
    finally:
        counting.remove()

    assert rerun.resumed_from == str(output_dir / f"checkpoint-{SAVE_STEPS}")
    assert len(optimizer_steps) == MAX_STEPS - SAVE_STEPS
    assert [entry["step"] for entry in rerun.log_history if "loss" in entry] == list(range(5, MAX_STEPS + 1, 5))
    assert json.loads((output_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())["global_step"] == (
        MAX_STEPS
    )
    assert rerun.metrics["reward_accuracy"] == trained.metrics["reward_accuracy"]
    test = preferences()["test"]
    resumed_scores = RewardModelScorer(rerun.model_dir).score(test["prompt"], test["chosen"])
    whole_scores = RewardModelScorer(trained.model_dir).score(test["prompt"], test["chosen"])
    assert resumed_scores == pytest.approx(whole_scores, abs=1e-4)


def test_starts_from_a_trained_sft_adapter_merged_into_its_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    """DoRA on the MLP only: the attention weights of the reward model are the SFT model's (LoRA on q/k/v/o merged
    into the base), not the base model's."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from llm_engineering.application.training.reward_model import train_reward_model
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.domain.config.training import SftConfig
    from llm_engineering.infrastructure.causal_lm import load_base_model, load_trained_model, read_training_info
    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer
    from tests.integration.conftest import make_instruction_dataset

    base = BaseModelConfig(name=str(tiny_model_dir))
    sft_config = SftConfig.model_validate(
        {"max_length": 64, "optimization": {"max_steps": 3, "logging_steps": 1, "learning_rate": 5e-2}}
    )
    sft = train_sft(make_instruction_dataset(), base, sft_config, tmp_path / "sft")
    config = reward_config(
        adapter={"method": "dora", "target_modules": ["gate_proj", "up_proj"]},
        optimization={"max_steps": 3, "logging_steps": 1},
    )

    result = train_reward_model(str(sft.model_dir), preferences(), base, config, tmp_path / "reward_model")

    reward = AutoModelForSequenceClassification.from_pretrained(str(result.model_dir))
    sft_merged = load_trained_model(sft.model_dir).merge_and_unload()
    query = "model.layers.0.self_attn.q_proj.weight"
    assert torch.allclose(reward.state_dict()[query], sft_merged.state_dict()[query])
    assert not torch.allclose(reward.state_dict()[query], load_base_model(str(tiny_model_dir)).state_dict()[query])
    info = read_training_info(result.model_dir)
    assert (info.method, info.is_adapter, info.base_model) == ("dora", False, str(tiny_model_dir))
    assert len(RewardModelScorer(result.model_dir).score(["What is LoRA?"], ["LoRA is a tool."])) == 1


def test_full_fine_tune_exports_a_loadable_reward_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    from llm_engineering.application.training.reward_model import train_reward_model
    from llm_engineering.infrastructure.causal_lm import read_training_info
    from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

    config = reward_config(adapter={"method": "full"}, optimization={"max_steps": 3, "learning_rate": 1e-3})
    result = train_reward_model(
        str(tiny_model_dir), preferences(), BaseModelConfig(name=str(tiny_model_dir)), config, tmp_path / "rm"
    )
    assert read_training_info(result.model_dir).method == "full"
    assert 0.0 <= result.metrics["reward_accuracy"] <= 1.0 and result.metrics["test_pairs"] == 8
    assert len(RewardModelScorer(result.model_dir).score(["a", "b"], ["c", "d"])) == 2


def test_scorer_names_a_missing_folder_and_a_causal_lm_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from llm_engineering.infrastructure.reward_scorer import RewardModelError, RewardModelScorer

    missing = tmp_path / "no-such-reward-model"
    with pytest.raises(RewardModelError, match=rf"^reward model folder {missing} does not exist$"):
        RewardModelScorer(missing)
    with pytest.raises(
        RewardModelError,
        match=rf"^reward model folder {tiny_model_dir} holds a LlamaForCausalLM, not a sequence classifier with "
        r"num_labels=1 \(a causal LM scores no answers: train one with a reward_model stage\)$",
    ):
        RewardModelScorer(tiny_model_dir)
    from transformers import AutoModelForSequenceClassification

    two_labels = tmp_path / "two-labels"
    AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=2).save_pretrained(two_labels)
    with pytest.raises(RewardModelError, match=rf"^reward model folder {two_labels} is a sequence classifier with "
                       r"num_labels=2; a reward model has num_labels=1 \(one score per answer\)$"):  # fmt: skip
        RewardModelScorer(two_labels)


def test_the_trained_reward_model_ranks_preference_candidates_and_judges_pairs(trained, tmp_path: Path) -> None:
    """The folder a reward_model stage wrote, used by the feature pipeline: the `reward_ranked` strategy orders
    sampled candidates by its score, and as a jury member of a judge stage it drops pairs it finds backwards."""
    from llm_engineering.application.dataset_curation import curate
    from llm_engineering.application.dataset_generation.preferences import generate_preferences
    from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig, PreferenceGenerationConfig
    from llm_engineering.domain.config.llm import LLMConfig
    from llm_engineering.domain.samples import InstructionSample, PreferenceSample
    from llm_engineering.infrastructure.llm.factory import build_provider
    from tests.support.openai_server import OpenAIStubServer

    samples = [
        InstructionSample(
            sample_id=f"i{n}",
            instruction=row["prompt"],
            answer=row["chosen"],
            document_id="d",
            chunk_id="c",
            source="s",
        )  # fmt: skip
        for n, row in enumerate(preferences()["test"].select(range(3)))
    ]
    with OpenAIStubServer(responder=lambda body: "I do not know, sorry!!!") as server:
        provider = build_provider(LLMConfig(provider="openai", base_url=server.base_url, model="m", cache=False))
        config = PreferenceGenerationConfig(strategy="reward_ranked", reward_model=trained.model_dir, candidates=3)
        generated = generate_preferences(samples, provider, config, DatasetGenerationConfig().prompts)
    assert [(p.chosen, p.rejected) for p in generated.samples] == [
        (s.answer, "I do not know, sorry!!!") for s in samples
    ]
    assert {p.strategy for p in generated.samples} == {"reward_ranked"}
    assert generated.ranking is not None and generated.ranking.members[0].kind == "reward_model"
    assert generated.ranking.judged == 6  # the grounded answer and one distinct sampled answer per question

    swapped = generated.samples[0].model_copy(
        update={
            "sample_id": "backwards",
            "chosen": generated.samples[0].rejected,
            "rejected": generated.samples[0].chosen,
        }
    )
    pairs: list[PreferenceSample] = [*generated.samples, swapped]
    member = {"kind": "reward_model", "name": "rm", "folder": str(trained.model_dir)}
    judged = DatasetGenerationConfig.model_validate(
        {"curation": {"stages": [{"kind": "judge", "min_margin": 0.0, "jury": {"members": [member]}}]}}
    )
    kept, removed, report = curate("preference_dataset", pairs, [], judged, embed=None)
    assert [p.sample_id for p in kept] == [p.sample_id for p in generated.samples]
    assert [(r.sample_id, r.reason) for r in removed] == [("backwards", "chosen does not beat rejected by min_margin")]
    assert all(p.scores["judge_margin"] > 0 and "judge_chosen_rm_reward" in p.scores for p in kept)
    assert report.judges["judge"].members[0].judged == 2 * len(pairs)


def test_reward_ranked_needs_a_reward_model_folder() -> None:
    from pydantic import ValidationError

    from llm_engineering.domain.config.dataset_generation import PreferenceGenerationConfig

    with pytest.raises(ValidationError, match="strategy reward_ranked ranks candidates with a reward model"):
        PreferenceGenerationConfig(strategy="reward_ranked")
    with pytest.raises(ValidationError, match="reward_model is read by strategy reward_ranked only"):
        PreferenceGenerationConfig(reward_model="somewhere")
