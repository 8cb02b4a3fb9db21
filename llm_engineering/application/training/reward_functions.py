"""Reward functions for the online RL stages, chosen by name in YAML: a registry of plain callables, like trl/rewards/.

Every reward function has TRL's signature, `fn(prompts, completions, **columns) -> list[float]`: one reward per
completion. `prompts` and `completions` are strings, or conversations (lists of `{"role", "content"}` messages) when
the dataset is conversational, as ours is; `columns` are the dataset's other columns (`answer`, `extract`,
`document_id`, ...), one value per completion, plus what TRL adds (`completion_ids`, `trainer_state`,
`log_metric`, ...). A YAML entry names a built-in below or a dotted path `package.module:function` to a function of
your own; its `params` are bound to it as keyword arguments.

`resolve_reward` wraps each function in a `RewardFunction`, which checks every batch it scores: a function that
raises, returns the wrong number of rewards, or a reward that is not a finite number stops the stage with a
`RewardFunctionError` naming the function and the batch, instead of training on garbage.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from llm_engineering.application.evaluation.rouge import rouge_l as mean_rouge_l
from llm_engineering.application.quality_filters import grounding_overlap
from llm_engineering.domain.config.dataset_quality import TemplateMarkerParams
from llm_engineering.domain.config.rl_stages import (
    REWARD_PARAMS,
    LlmJudgeParams,
    RewardModelParams,
    RewardSpec,
    is_dotted_path,
)
from llm_engineering.infrastructure.interruption import is_interruption

Completion = str | list[dict[str, str]]
RewardCallable = Callable[..., list[float]]


class RewardFunctionError(ValueError):
    """A reward function that cannot be resolved, or that returned something that cannot be trained on."""


# ---------------------------------------------------------------- text of prompts and completions


def completion_text(completion: Completion) -> str:
    """The answer: the string itself, or the content of a conversational completion's assistant messages."""
    if isinstance(completion, str):
        return completion
    return "".join(str(message.get("content", "")) for message in completion if message.get("role") == "assistant")


def prompt_text(prompt: Completion) -> str:
    """The instruction: the string itself, or a conversational prompt's last user message."""
    if isinstance(prompt, str):
        return prompt
    users = [str(message.get("content", "")) for message in prompt if message.get("role") == "user"]
    return users[-1] if users else ""


# ---------------------------------------------------------------- the built-ins

_ENDS_A_SENTENCE = re.compile(r"""[.!?…)\]}"'`»*]\s*$""")  # a sentence, bracket, quote or code fence


def length_reward(prompts: list, completions: list, *, target: int = 20, **columns: Any) -> list[float]:
    """-|words - target| / target (toy)."""
    return [-abs(len(completion_text(completion).split()) - target) / target for completion in completions]


def format_length_reward(
    prompts: list, completions: list, *, target: int = 60, tolerance: int = 20, **columns: Any
) -> list[float]:
    """About `target` words, ending properly, without template scaffolding (see FormatLengthParams)."""
    markers = [marker.lower() for marker in TemplateMarkerParams().markers]
    rewards = []
    for completion in completions:
        text = completion_text(completion).strip()
        words = len(text.split())
        if words == 0 or any(marker in text.lower() for marker in markers):
            rewards.append(-1.0)
            continue
        distance = max(abs(words - target) - tolerance, 0)
        reward = max(1.0 - distance / target, 0.0)
        if not _ENDS_A_SENTENCE.search(text):
            reward -= 0.5  # cut off mid-sentence
        rewards.append(reward)
    return rewards


def grounding_reward(
    prompts: list, completions: list, *, extract: Sequence[str], min_word_length: int = 3, **columns: Any
) -> list[float]:
    """Share of the answer's content words found in the sample's extract: the grounding filter's own measure
    (0 for an answer with no content words)."""
    return [
        grounding_overlap(completion_text(completion), source or "", min_word_length) or 0.0
        for completion, source in zip(completions, extract, strict=True)
    ]


def rouge_l_reward(prompts: list, completions: list, *, answer: Sequence[str], **columns: Any) -> list[float]:
    """ROUGE-L F1 of each answer against the sample's reference answer, as the evaluation step scores it."""
    return [
        mean_rouge_l([completion_text(completion)], [reference])
        for completion, reference in zip(completions, answer, strict=True)
    ]


class RewardModelReward:
    """Scores (prompt, answer) with a reward model folder, loaded once (`infrastructure/reward_scorer.py`)."""

    def __init__(self, folder: Any, device: str = "cpu", batch_size: int = 8) -> None:
        from llm_engineering.infrastructure.reward_scorer import RewardModelScorer  # heavy, and optional

        self.scorer = RewardModelScorer(folder, device=device)
        self.batch_size = batch_size

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        return self.scorer.score(
            [prompt_text(prompt) for prompt in prompts],
            [completion_text(completion) for completion in completions],
            batch_size=self.batch_size,
        )


class LlmJudgeReward:
    """The rubric score (in [0, 1]) of an LLM judge, the judge component's `LlmJudge` through our provider (retries,
    response cache), given the instruction and, where the sample has one, its reference answer. A failed request or
    an unparseable verdict scores 0 and is counted in `unjudged`; a batch with more than `max_unjudged_fraction` of
    them raises."""

    def __init__(self, params: LlmJudgeParams) -> None:
        from llm_engineering.application.judging.members import LlmJudge
        from llm_engineering.domain.config.judging import LlmMember

        member = LlmMember(kind="llm", name="llm_judge", llm=params.llm, rubric=params.rubric, max_new_tokens=16)
        self.judge = LlmJudge(member)
        self.max_unjudged_fraction = params.max_unjudged_fraction
        self.unjudged = 0
        self.judged = 0

    def __call__(
        self, prompts: list, completions: list, *, answer: Sequence[str] | None = None, **columns: Any
    ) -> list[float]:
        from llm_engineering.application.judging.members import JudgeItem

        references = answer if answer is not None else [""] * len(completions)
        items = [
            JudgeItem(question=prompt_text(p), answer=completion_text(c), reference=r or "", key=f"reward:{i}")
            for i, (p, c, r) in enumerate(zip(prompts, completions, references, strict=True))
        ]
        self.judge.stats.first_error = None  # the first error of this batch, for its message
        verdicts = self.judge.score(items)
        unjudged = sum(verdict is None for verdict in verdicts)
        self.unjudged += unjudged
        self.judged += len(verdicts) - unjudged
        if "log_metric" in columns:  # TRL's hook: averaged per logging step next to its own metrics
            columns["log_metric"]("llm_judge/unjudged_fraction", unjudged / max(len(verdicts), 1))
        if verdicts and unjudged / len(verdicts) > self.max_unjudged_fraction:
            raise RuntimeError(
                f"{unjudged} of {len(verdicts)} answers unjudged (more than max_unjudged_fraction "
                f"{self.max_unjudged_fraction}); first: {self.judge.stats.first_error}"
            )
        return [verdict.score if verdict is not None else 0.0 for verdict in verdicts]


def _reward_model(params: RewardModelParams, context: dict[str, Any]) -> RewardCallable:
    folder = params.folder or context.get("reward_model_dir")
    if folder is None:
        raise RewardFunctionError(
            "reward function 'reward_model' has no folder: set params.folder, or put a reward_model stage before "
            "this one"
        )
    return RewardModelReward(folder, device=context.get("device", "cpu"), batch_size=params.batch_size)


# Name -> builder(params, context) of the callable. The callables themselves are plain functions or instances.
Builder = Callable[[Any, dict[str, Any]], RewardCallable]
REWARD_FUNCTIONS: dict[str, Builder] = {
    "format_length": lambda params, _: functools.partial(format_length_reward, **params.model_dump()),
    "length": lambda params, _: functools.partial(length_reward, **params.model_dump()),
    "grounding": lambda params, _: functools.partial(grounding_reward, **params.model_dump()),
    "rouge_l": lambda params, _: rouge_l_reward,
    "reward_model": _reward_model,
    "llm_judge": lambda params, _: LlmJudgeReward(params),
}
# The dataset columns each built-in reads, checked before training.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {"grounding": ("extract",), "rouge_l": ("answer",)}
if set(REWARD_FUNCTIONS) != set(REWARD_PARAMS):  # the config's names and this registry must not drift apart
    raise RuntimeError(f"reward registry mismatch: {sorted(set(REWARD_FUNCTIONS) ^ set(REWARD_PARAMS))}")


# ---------------------------------------------------------------- resolving and checking specs


def _import_dotted(name: str) -> Callable[..., Any]:
    module_name, _, attribute = name.partition(":") if ":" in name else name.rpartition(".")
    if not module_name or not attribute:
        raise RewardFunctionError(
            f"reward function {name!r} is not a dotted path 'package.module:function' or 'package.module.function'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any failure to import is the user's to see, by name
        raise RewardFunctionError(
            f"reward function {name!r}: module {module_name!r} does not import ({type(error).__name__}: {error})"
        ) from error
    function = getattr(module, attribute, None)
    if function is None:
        raise RewardFunctionError(f"reward function {name!r}: module {module_name!r} has no attribute {attribute!r}")
    if not callable(function):
        raise RewardFunctionError(f"reward function {name!r} is not callable (a {type(function).__name__})")
    return function


def _check(spec: RewardSpec) -> None:
    if spec.name in REWARD_FUNCTIONS:
        try:
            spec.parsed_params()
        except ValidationError as error:
            raise RewardFunctionError(f"reward function {spec.name!r}: bad params: {error}") from error
    elif is_dotted_path(spec.name):
        _import_dotted(spec.name)
    else:
        raise RewardFunctionError(
            f"unknown reward function {spec.name!r}; built-ins: {', '.join(sorted(REWARD_FUNCTIONS))}, or a dotted "
            "path 'package.module:function'"
        )


def check_reward_specs(specs: Sequence[RewardSpec]) -> None:
    """At config time: every name is a built-in (with valid params) or a dotted path to a callable that imports.
    Loads no model and calls no endpoint."""
    for index, spec in enumerate(specs):
        try:
            _check(spec)
        except RewardFunctionError as error:
            raise RewardFunctionError(f"rewards.{index}: {error}") from error


def resolve_reward(spec: RewardSpec, context: dict[str, Any] | None = None) -> RewardFunction:
    """The checked, ready-to-call reward function of a spec. `context` carries what the pipeline knows:
    `reward_model_dir` (the reward_model stage's folder), `device`."""
    _check(spec)
    if spec.name in REWARD_FUNCTIONS:
        function = REWARD_FUNCTIONS[spec.name](spec.parsed_params(), context or {})
    else:
        function = _import_dotted(spec.name)
        if spec.params:
            function = functools.partial(function, **spec.params)
    return RewardFunction(spec.label, function, spec.weight)


class RewardFunction:
    """A reward function as TRL calls it, checked on every batch. TRL logs it as `rewards/<name>/...` (it reads
    `__name__`)."""

    def __init__(self, name: str, function: RewardCallable, weight: float = 1.0) -> None:
        self.__name__ = name
        self.name = name
        self.function = function
        self.weight = weight
        self.batches = 0  # batches scored so far; the index of the next one

    @property
    def unjudged(self) -> int:
        """Answers the function could not score (an LLM judge's unparseable verdicts), scored 0; else 0."""
        return int(getattr(self.function, "unjudged", 0))

    def __call__(self, prompts: list, completions: list, **columns: Any) -> list[float]:
        batch, self.batches = self.batches, self.batches + 1
        try:
            rewards = self.function(prompts=prompts, completions=completions, **columns)
        except Exception as error:
            if is_interruption(error):  # SIGTERM/Ctrl-C, not the function's fault
                raise
            raise RewardFunctionError(
                f"reward function {self.name!r} failed on batch {batch}: {type(error).__name__}: {error}"
            ) from error
        try:
            rewards = list(rewards)
        except TypeError as error:
            raise RewardFunctionError(
                f"reward function {self.name!r} returned a {type(rewards).__name__} for batch {batch}, not a list of "
                "rewards"
            ) from error
        if len(rewards) != len(completions):
            raise RewardFunctionError(
                f"reward function {self.name!r} returned {len(rewards)} rewards for batch {batch} of "
                f"{len(completions)} completions"
            )
        checked = []
        for row, reward in enumerate(rewards):
            value = _as_number(reward)
            if value is None or not math.isfinite(value):
                raise RewardFunctionError(
                    f"reward function {self.name!r} returned {reward!r} for completion {row} of batch {batch}; "
                    "rewards must be finite numbers"
                )
            checked.append(value)
        return checked


def _as_number(reward: Any) -> float | None:
    """A float of an int, float, bool (1/0) or numpy/torch scalar; None for anything else (None included)."""
    try:
        return float(reward)
    except (TypeError, ValueError):
        return None
