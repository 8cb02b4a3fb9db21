"""The reward-function registry: built-ins on string and conversational completions, dotted-path functions of
our own, the errors that name the spec or the batch, the LLM judge through our provider, and the RL stage configs."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from llm_engineering.application.quality_filters import check_grounding
from llm_engineering.application.training.reward_functions import (
    RewardFunctionError,
    check_reward_specs,
    resolve_reward,
)
from llm_engineering.domain.config.dataset_quality import GroundingParams
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.config.rl_stages import GrpoStageConfig, RewardSpec, RlooStageConfig
from llm_engineering.domain.samples import InstructionSample
from tests.support.openai_server import Fault, OpenAIStubServer, last_user_message

NOT_A_FUNCTION = 42
PROMPT = [{"role": "user", "content": "Explain LoRA."}]


def said(text: str) -> list[dict[str, str]]:
    """A conversational completion, as TRL passes it for our conversational prompts."""
    return [{"role": "assistant", "content": text}]


def exclamations(prompts, completions, *, bonus: float = 1.0, **columns):
    """A user reward function, reached by dotted path: `bonus` per "!" in the answer."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [bonus * text.count("!") for text in texts]


def too_few(prompts, completions, **columns):
    return [1.0]


def explodes(prompts, completions, **columns):
    raise RuntimeError("boom")


def not_a_number(prompts, completions, **columns):
    return [0.5, math.nan]


def nothing(prompts, completions, **columns):
    return [None for _ in completions]


def score(name: str, completions: list, params: dict | None = None, **columns) -> list[float]:
    function = resolve_reward(RewardSpec(name=name, params=params or {}))
    return function(prompts=[PROMPT] * len(completions), completions=completions, **columns)


def test_length_is_minus_the_relative_distance_to_the_target_for_strings_and_conversations() -> None:
    answers = ["one two three four", "one two", " ".join(["word"] * 8)]
    expected = [0.0, -0.5, -1.0]
    assert score("length", answers, {"target": 4}) == expected
    assert score("length", [said(text) for text in answers], {"target": 4}) == expected


def test_format_length_rewards_the_target_length_and_penalises_empty_cut_off_and_template_answers() -> None:
    params = {"target": 10, "tolerance": 2}
    answers = [
        " ".join(["word"] * 11) + ".",  # within tolerance, ends a sentence
        " ".join(["word"] * 16) + ".",  # 6 words off: 4 past the tolerance, 1 - 4/10
        " ".join(["word"] * 10),  # right length, cut off mid-sentence
        "",
        "### Response: " + " ".join(["word"] * 9) + ".",
        "<|im_start|>assistant fine.",
    ]
    assert score("format_length", [said(text) for text in answers], params) == pytest.approx(
        [1.0, 0.6, 0.5, -1.0, -1.0, -1.0]
    )


def test_grounding_is_the_grounding_filters_overlap() -> None:
    extract = "Qdrant is a vector database that stores embeddings and serves similarity search."
    answers = ["Qdrant stores embeddings.", "Qdrant stores pictures of cats.", "It is.", "Anything"]
    rewards = score("grounding", [said(text) for text in answers], extract=[extract, extract, extract, ""])
    # qdrant/stores/embeddings all in the extract; 2 of qdrant/stores/pictures/cats; no content words; no extract.
    assert rewards == [1.0, 0.5, 0.0, 0.0]
    for answer, reward in zip(answers[:2], rewards, strict=False):  # the filter drops exactly what scores lower
        sample = InstructionSample(
            sample_id="s", instruction="q", answer=answer, document_id="d", chunk_id="c", source="t", extract=extract
        )
        assert check_grounding(sample, GroundingParams(min_overlap=0.75)) == (
            None if reward >= 0.75 else f"answer overlaps its extract by {reward:.2f} < 0.75"
        )


def test_rouge_l_scores_each_answer_against_its_reference() -> None:
    rewards = score(
        "rouge_l",
        ["LoRA trains low-rank adapters.", "Completely unrelated words here."],
        answer=["LoRA trains low-rank adapters.", "LoRA trains low-rank adapters."],
    )
    assert rewards == [1.0, 0.0]


@pytest.mark.parametrize(
    "name", ["tests.unit.test_reward_functions:exclamations", "tests.unit.test_reward_functions.exclamations"]
)
def test_a_dotted_path_function_gets_its_params_and_is_logged_under_its_name(name: str) -> None:
    function = resolve_reward(RewardSpec(name=name, weight=0.5, params={"bonus": 2.0}))
    assert (function.__name__, function.weight) == ("exclamations", 0.5)  # TRL logs rewards/exclamations/mean
    assert function(prompts=["p", "p"], completions=["Wow!!", said("calm")]) == [4.0, 0.0]
    check_reward_specs([RewardSpec(name=name)])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "lenght",
            "rewards.1: unknown reward function 'lenght'; built-ins: format_length, grounding, length, llm_judge, "
            "reward_model, rouge_l, or a dotted path 'package.module:function'",
        ),
        (
            "tests.unit.no_such_module:reward",
            "rewards.1: reward function 'tests.unit.no_such_module:reward': module 'tests.unit.no_such_module' does "
            "not import (ModuleNotFoundError: No module named 'tests.unit.no_such_module')",
        ),
        (
            "tests.unit.test_reward_functions:missing",
            "rewards.1: reward function 'tests.unit.test_reward_functions:missing': module "
            "'tests.unit.test_reward_functions' has no attribute 'missing'",
        ),
        (
            "tests.unit.test_reward_functions:NOT_A_FUNCTION",
            "rewards.1: reward function 'tests.unit.test_reward_functions:NOT_A_FUNCTION' is not callable (a int)",
        ),
        (
            "tests.unit.test_reward_functions:",
            "rewards.1: reward function 'tests.unit.test_reward_functions:' is not a dotted path "
            "'package.module:function' or 'package.module.function'",
        ),
    ],
)
def test_check_reward_specs_names_the_spec_that_does_not_resolve(name: str, message: str) -> None:
    with pytest.raises(RewardFunctionError) as raised:
        check_reward_specs([RewardSpec(name="length"), RewardSpec(name=name)])
    assert str(raised.value) == message
    with pytest.raises(RewardFunctionError) as raised:
        resolve_reward(RewardSpec(name=name))
    assert str(raised.value) == message.removeprefix("rewards.1: ")


def test_a_built_ins_params_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ValidationError, match="tolerence"):
        RewardSpec(name="format_length", params={"tolerence": 3})
    with pytest.raises(ValidationError, match="greater than 0"):
        RewardSpec(name="length", params={"target": 0})


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("explodes", "reward function 'explodes' failed on batch 0: RuntimeError: boom"),
        (
            "not_a_number",
            "reward function 'not_a_number' returned nan for completion 1 of batch 0; rewards must be finite numbers",
        ),
        (
            "nothing",
            "reward function 'nothing' returned None for completion 0 of batch 0; rewards must be finite numbers",
        ),
    ],
)
def test_a_bad_batch_stops_with_the_function_and_the_batch_index(function: str, message: str) -> None:
    reward = resolve_reward(RewardSpec(name=f"tests.unit.test_reward_functions:{function}"))
    with pytest.raises(RewardFunctionError) as raised:
        reward(prompts=["p", "p"], completions=["a", "b"])
    assert str(raised.value) == message


def test_the_batch_index_counts_the_batches_scored() -> None:
    reward = resolve_reward(RewardSpec(name="tests.unit.test_reward_functions:too_few"))
    assert reward(prompts=["p"], completions=["fine"]) == [1.0]  # batch 0: one reward for one completion
    with pytest.raises(RewardFunctionError) as raised:
        reward(prompts=["p", "p"], completions=["a", "b"])
    assert str(raised.value) == "reward function 'too_few' returned 1 rewards for batch 1 of 2 completions"


def grader(body: dict) -> str:
    """A judge: 5 for an answer that repeats the reference, 2 otherwise; no verdict for a GARBLED answer."""
    prompt = last_user_message(body)
    answer = prompt.split("Answer: ", 1)[1].split("\nReply", 1)[0]
    if "GARBLED" in answer:
        return "It reads well, I suppose."
    reference = prompt.split("Reference: ", 1)[1].split("\n", 1)[0] if "Reference: " in prompt else None
    return json.dumps({"score": 5 if answer == reference else 2})


def test_llm_judge_scores_through_the_judge_component_and_counts_unparseable_verdicts_as_zero(tmp_path) -> None:
    with OpenAIStubServer(responder=grader) as server:
        server.script("Answer: wrong", Fault.rate_limited(retry_after=0.05))
        llm = LLMConfig(
            provider="openai", base_url=server.base_url, model="judge", cache_dir=tmp_path, backoff_base_s=0
        )
        judge = resolve_reward(RewardSpec(name="llm_judge", params={"llm": llm.model_dump(mode="json")}))
        rewards = judge(
            prompts=[PROMPT] * 3,
            completions=[said("Low-rank adapters."), said("wrong"), said("GARBLED")],
            answer=["Low-rank adapters."] * 3,
        )
        assert rewards == [1.0, 0.25, 0.0]  # the reward_score rubric's 1-5, scaled to [0, 1]; unjudged: 0
        assert judge.unjudged == 1
        assert server.count("Answer: wrong") == 2  # the 429 was retried
        assert all(request["response_format"] == {"type": "json_object"} for request in server.requests)

        # A batch mostly unjudged (a judge that stopped answering in JSON) stops the stage instead of training on 0s.
        with pytest.raises(RewardFunctionError) as raised:
            judge(prompts=[PROMPT] * 2, completions=[said("GARBLED 1"), said("GARBLED 2")], answer=["x", "x"])
        assert str(raised.value) == (
            "reward function 'llm_judge' failed on batch 1: RuntimeError: 2 of 2 answers unjudged (more than "
            "max_unjudged_fraction 0.5); first: verdict 'It reads well, I suppose.'"
        )
        assert judge.unjudged == 3


def stage(kind: str = "grpo", **fields) -> dict:
    return {"kind": kind, "rewards": [{"name": "length"}], **fields}


def test_rl_stage_defaults_and_the_checks_trl_would_make_later() -> None:
    grpo = GrpoStageConfig.model_validate(stage())
    assert (grpo.num_generations, grpo.max_completion_length, grpo.temperature, grpo.beta) == (4, 64, 0.9, 0.0)
    assert grpo.optimization.learning_rate == 1e-5 and grpo.start_from is None and grpo.resume_from_checkpoint
    assert RlooStageConfig.model_validate(stage("rloo")).kind == "rloo"

    with pytest.raises(ValidationError, match=r"num_generations must be >= 2"):
        GrpoStageConfig.model_validate(stage(num_generations=1))
    with pytest.raises(ValidationError, match=r"\(4 \* 1 = 4\) must be divisible by num_generations \(3\)"):
        GrpoStageConfig.model_validate(stage(num_generations=3))
    GrpoStageConfig.model_validate(stage(num_generations=3, optimization={"gradient_accumulation_steps": 3}))
    with pytest.raises(ValidationError, match=r"per_device_eval_batch_size \(2\) must be divisible"):
        GrpoStageConfig.model_validate(
            stage(optimization={"eval_steps": 5, "per_device_eval_batch_size": 2, "per_device_train_batch_size": 4})
        )
    with pytest.raises(ValidationError, match="at least 1 item"):
        GrpoStageConfig.model_validate(stage(rewards=[]))
    with pytest.raises(ValidationError, match="reward function listed twice: length"):
        GrpoStageConfig.model_validate(stage(rewards=[{"name": "length"}, {"name": "length", "weight": 2}]))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        GrpoStageConfig.model_validate(stage(max_new_tokens=4))
