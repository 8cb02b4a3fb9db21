"""`stages:` is checked as a whole before any work: kinds, names, what each stage starts from and needs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.domain.config.training import AlignmentStage, SftStage, TrainingParameters


def stages(*entries: dict, **parameters: object) -> TrainingParameters:
    return TrainingParameters.model_validate({"stages": list(entries), **parameters})


def test_names_default_to_the_kind_and_each_stage_starts_from_the_previous_policy() -> None:
    parameters = stages({"kind": "sft"}, {"kind": "dpo"}, {"kind": "orpo", "start_from": "sft"}, {"kind": "dpo"})
    assert [s.name for s in parameters.stages] == ["sft", "dpo", "orpo", "dpo_2"]
    assert parameters.plan.starts() == {"sft": "base", "dpo": "sft", "orpo": "sft", "dpo_2": "orpo"}
    assert parameters.plan.final_policy() == "dpo_2"
    assert parameters.plan.adapter_of("dpo_2") == parameters.stages[0].adapter  # DPO keeps training the SFT adapter
    assert parameters.step_ids() == ["train_sft", "train_dpo", "train_orpo", "train_dpo_2"]
    assert isinstance(parameters.stages[2], AlignmentStage) and parameters.stages[2].method == "orpo"


def test_the_older_sft_and_dpo_blocks_become_the_same_two_stages() -> None:
    legacy = TrainingParameters.model_validate({"sft": {"max_length": 64}, "dpo": {"method": "kto", "beta": 0.2}})
    assert [(type(s), s.kind, s.name) for s in legacy.stages] == [
        (SftStage, "sft", "sft"),
        (AlignmentStage, "kto", "kto"),
    ]
    assert legacy.stages[0].max_length == 64 and legacy.stages[1].beta == 0.2
    assert [s.kind for s in TrainingParameters.model_validate({"dpo": {"enabled": False}}).stages] == ["sft"]
    assert [s.kind for s in TrainingParameters().stages] == ["sft", "dpo"]  # the default: SFT -> DPO


@pytest.mark.parametrize(
    ("entries", "extra", "message"),
    [
        (
            [{"kind": "dpo"}],
            {},
            "stages.0 (dpo) aligns a trained model, but starts from the base model: put an sft stage",
        ),
        (
            [{"kind": "sft"}, {"kind": "dpo", "start_from": "nope"}],
            {},
            "stages.1.start_from: 'nope' is not an earlier stage (['sft'])",
        ),
        ([{"kind": "sft", "name": "a"}, {"kind": "dpo", "name": "a"}], {}, "stages.1.name: 'a' is used twice"),
        (
            [{"kind": "sft"}, {"kind": "dpo"}],
            {"datasets": {"preference": None}},
            "stages ['dpo'] train on preference pairs, but datasets.preference is null",
        ),
        (
            [{"kind": "sft", "adapter": {"method": "p_tuning"}}, {"kind": "kto"}],
            {},
            "TRL's DPOTrainer cannot train prompt-learning adapters",
        ),
    ],
)
def test_stages_that_cannot_run_are_refused_naming_the_stage(entries: list, extra: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        stages(*entries, **extra)
    assert message in str(error.value)


def test_an_unknown_kind_lists_the_known_ones_and_stages_exclude_the_older_blocks() -> None:
    with pytest.raises(ValidationError, match=r"stages\.1\n.*tag 'ppo' .* expected tags: 'sft', 'dpo', 'kto', 'orpo'"):
        stages({"kind": "sft"}, {"kind": "ppo"})
    with pytest.raises(ValidationError, match="give either `stages:` or the older `sft:` / `dpo:` blocks, not both"):
        TrainingParameters.model_validate({"stages": [{"kind": "sft"}], "sft": {}})
    with pytest.raises(ValidationError, match=r"stages\.0\.sft\.beta\n.*Extra inputs are not permitted"):
        stages({"kind": "sft", "beta": 0.1})  # each kind has its own fields
