"""The distill stage's config: its defaults, its teacher (exactly one source, an earlier stage of the list), what the
student starts from, and every refusal naming the stage and the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.domain.config.distill_stage import DistillStageConfig
from llm_engineering.domain.config.training import TrainingParameters


def stages(*entries: dict) -> TrainingParameters:
    """Without preference pairs unless a stage trains on them (the default artifact name is enough here)."""
    pairs = any(entry["kind"] in ("dpo", "kto", "orpo", "reward_model") for entry in entries)
    return TrainingParameters.model_validate(
        {"stages": list(entries), **({} if pairs else {"datasets": {"preference": None}})}
    )


def refusal(*entries: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        stages(*entries)
    [error] = caught.value.errors()
    return error["msg"].removeprefix("Value error, ")


SFT = {"kind": "sft"}
STUDENT = {"kind": "sft", "name": "student", "start_from": "base"}


def test_defaults_follow_trl_gkd_and_the_kind_and_teacher_are_required() -> None:
    config = DistillStageConfig.model_validate({"kind": "distill", "teacher": {"stage": "sft"}})
    assert (config.lmbda, config.beta, config.temperature, config.seq_kd) == (0.5, 0.5, 0.9, False)
    assert (config.max_new_tokens, config.max_length, config.optimization.learning_rate) == (64, 384, 5e-5)
    assert (config.name, config.start_from, config.adapter, config.teacher.label) == (None, None, None, "sft")
    with pytest.raises(ValidationError, match=r"kind\n  Field required"):
        DistillStageConfig.model_validate({"teacher": {"stage": "sft"}})  # ZenML drops defaults: no default tag
    with pytest.raises(ValidationError, match=r"teacher\n  Field required"):
        DistillStageConfig.model_validate({"kind": "distill"})


@pytest.mark.parametrize(
    ("teacher", "message"),
    [
        ({}, "got none"),
        ({"stage": "sft", "hub_id": "HuggingFaceTB/SmolLM2-360M-Instruct"}, "got ['stage', 'hub_id']"),
        ({"path": "models/teacher", "hub_id": "a/b"}, "got ['path', 'hub_id']"),
    ],
)
def test_the_teacher_is_exactly_one_of_stage_path_or_hub_id(teacher: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        stages(SFT, {"kind": "distill", "teacher": teacher, "start_from": "base"})
    [error] = caught.value.errors()
    assert error["loc"] == ("stages", 1, "distill", "teacher")
    assert error["msg"] == (
        "Value error, set exactly one of `stage` (an earlier stage of this list), `path` (a model folder) or `hub_id` "
        f"(a cached Hub model), {message}"
    )


def test_a_hub_id_is_owner_slash_name_and_gkd_ranges_are_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        stages(SFT, {"kind": "distill", "teacher": {"hub_id": "SmolLM2"}})
    assert caught.value.errors()[0]["msg"] == (
        "Value error, hub_id 'SmolLM2' is not a Hub id owner/name; a local folder goes in `path`"
    )
    for field, value in (("lmbda", 1.5), ("beta", -0.1), ("temperature", 0), ("max_new_tokens", 0)):
        with pytest.raises(ValidationError) as caught:
            stages(SFT, {"kind": "distill", "teacher": {"hub_id": "a/b"}, field: value})
        assert caught.value.errors()[0]["loc"] == ("stages", 1, "distill", field)


def test_the_student_follows_the_start_rule_and_the_teacher_is_an_earlier_stage() -> None:
    parameters = stages(SFT, STUDENT, {"kind": "distill", "teacher": {"stage": "sft"}}, {"kind": "dpo", "beta": 0.1})
    assert parameters.plan.starts() == {"sft": "base", "student": "base", "distill": "student", "dpo": "distill"}
    distill = parameters.stages[2]
    assert distill.adapter is None  # the student's own adapter keeps training
    assert parameters.plan.adapter_of("distill") == parameters.stages[1].adapter
    assert parameters.plan.final_policy() == "dpo"
    assert parameters.step_ids() == ["train_sft", "train_student", "train_distill", "train_dpo"]


def test_from_the_base_model_the_student_trains_a_new_adapter_lora_by_default() -> None:
    parameters = stages(SFT, {"kind": "distill", "teacher": {"stage": "sft"}, "start_from": "base"})
    assert parameters.plan.starts()["distill"] == "base"
    assert (parameters.stages[1].adapter.method, parameters.stages[1].adapter.r) == ("lora", 8)
    small = stages(SFT, {"kind": "distill", "teacher": {"stage": "sft"}, "start_from": "base", "adapter": {"r": 2}})
    assert small.plan.adapter_of("distill").r == 2
    only_distill = stages({"kind": "distill", "teacher": {"hub_id": "HuggingFaceTB/SmolLM2-360M-Instruct"}})
    assert only_distill.plan.final_policy() == "distill" and only_distill.stages[0].adapter.method == "lora"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [SFT, {"kind": "distill", "teacher": {"stage": "teachr"}, "start_from": "base"}],
            "stages.1.teacher.stage: 'teachr' is not a stage of this list (['sft', 'distill'])",
        ),
        (
            [SFT, {"kind": "distill", "teacher": {"stage": "big"}, "start_from": "base"}, {**SFT, "name": "big"}],
            "stages.1.teacher.stage: 'big' comes later (stages.2); a teacher is trained before its student: move it "
            "before this stage",
        ),
        (
            [SFT, {"kind": "distill", "teacher": {"stage": "distill"}}],
            "stages.1.teacher.stage: 'distill' is this stage itself; name an earlier stage",
        ),
        (
            [SFT, {"kind": "reward_model"}, {"kind": "distill", "teacher": {"stage": "reward_model"}}],
            "stages.2.teacher.stage: 'reward_model' is a reward_model stage, not a language model; name a policy "
            "stage (sft, dpo, ...)",
        ),
        (
            [SFT, {"kind": "distill", "teacher": {"stage": "sft"}}],
            "stages.1.teacher.stage: 'sft' is also the model this stage starts from, so the student would begin "
            "equal to its teacher and learn nothing; set start_from (base, or another stage), or train the student "
            "in a stage of its own first",
        ),
        (
            [SFT, STUDENT, {"kind": "distill", "teacher": {"stage": "sft"}, "adapter": {"method": "lora"}}],
            "stages.2.adapter: the student starts from 'student' and keeps training its model; remove adapter, or "
            "set start_from: base to train a new adapter on the base model",
        ),
        (
            [{**SFT, "adapter": {"method": "prompt_tuning"}}, {"kind": "distill", "teacher": {"stage": "sft"},
                                                              "start_from": "base"}],
            "stages.1.teacher.stage: 'sft' trains a prompt_tuning adapter (virtual tokens), whose logits do not line "
            "up token by token with the other model's; distil from or into a lora, dora, ia3 or full stage",
        ),
        (
            [{**SFT, "adapter": {"method": "p_tuning"}}, {"kind": "distill", "teacher": {"hub_id": "a/b"}}],
            "stages.1.start_from: 'sft' trains a p_tuning adapter (virtual tokens), whose logits do not line up token "
            "by token with the other model's; distil from or into a lora, dora, ia3 or full stage",
        ),
    ],
)  # fmt: skip
def test_a_teacher_or_start_that_cannot_work_is_refused_naming_the_stage_and_field(entries: list, message: str) -> None:
    assert refusal(*entries) == message


@pytest.mark.parametrize("method", ["qlora", "prefix_tuning", "prompt_tuning", "p_tuning"])
def test_an_adapter_method_the_student_cannot_train_is_refused_naming_the_field(method: str) -> None:
    with pytest.raises(ValidationError) as caught:
        stages({"kind": "distill", "teacher": {"hub_id": "a/b"}, "adapter": {"method": method}})
    [error] = caught.value.errors()
    assert error["loc"] == ("stages", 0, "distill", "adapter")
    assert error["msg"] == (
        f"Value error, adapter.method {method!r} is not supported by the distill stage; choose one of "
        "['full', 'lora', 'dora', 'ia3']"
    )


def test_distill_is_listed_among_the_kinds_and_takes_only_its_own_fields() -> None:
    with pytest.raises(ValidationError, match=r"tag 'distil' .* expected tags: .*'distill'"):
        stages(SFT, {"kind": "distil", "teacher": {"stage": "sft"}})
    with pytest.raises(ValidationError, match=r"stages\.1\.distill\.num_generations\n  Extra inputs are not permitted"):
        stages(SFT, {"kind": "distill", "teacher": {"hub_id": "a/b"}, "num_generations": 4})
