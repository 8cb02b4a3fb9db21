"""Jury members: each scores a batch of (question, answer) items in [0, 1], or leaves an item unscored.

One class per member kind, built from its config by `build_member`; a member that needs a model or a provider loads
it on first use, so building a jury costs nothing. A new kind is one config model (domain/config/judging.py) and one
class here.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_engineering.application.judging.rubrics import Rubric, RubricError, load_rubric
from llm_engineering.domain.config.judging import (
    MEMBER_KINDS,
    DifficultyMember,
    EmbeddingRelevanceMember,
    LlmMember,
    RewardModelMember,
    WellFormedMember,
)
from llm_engineering.infrastructure.llm.base import ChatRequest, LLMProvider, UsageReport


@dataclass(frozen=True)
class JudgeItem:
    question: str
    answer: str
    reference: str = ""  # a reference answer, where there is one (evaluation)
    context: str = ""  # the source text the answer should be grounded in, where there is one
    key: str = ""  # a stable label (sample id): request labels, never part of a cache key


@dataclass(frozen=True)
class JudgePair:
    """Two answers to one question, to compare: `first` is shown first (answer A), `second` second."""

    question: str
    first: str
    second: str
    reference: str = ""
    context: str = ""
    key: str = ""

    def items(self) -> tuple[JudgeItem, JudgeItem]:
        """Each answer alone, for members that score one answer at a time."""
        return (
            JudgeItem(self.question, self.first, self.reference, self.context, f"{self.key}:first"),
            JudgeItem(self.question, self.second, self.reference, self.context, f"{self.key}:second"),
        )


@dataclass(frozen=True)
class Verdict:
    score: float  # in [0, 1], higher is better
    dimensions: dict[str, float] = field(default_factory=dict)  # the raw values (an LLM rubric's, the IFD)


@dataclass(frozen=True)
class Unjudged:
    """Why one item has no score: the reason reports count, and what the member saw (an unparseable verdict's raw
    text, a failed call's error), verbatim."""

    reason: str
    detail: str = ""


@dataclass
class MemberStats:
    """What one member did: its unjudged items by reason, and what it cost."""

    judged: int = 0
    unjudged_by_reason: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    first_error: str | None = None

    def count(self, verdicts: list[Verdict | None], reasons: list[str | Unjudged | None]) -> None:
        self.judged += sum(v is not None for v in verdicts)
        for verdict, reason in zip(verdicts, reasons, strict=True):
            if verdict is None:
                self.unjudged_by_reason[(reason.reason if isinstance(reason, Unjudged) else reason) or "no score"] += 1


class Member:
    """The shared bookkeeping; subclasses implement `_score` and say their `kind`."""

    kind = ""

    def __init__(self, config: Any, device: str = "cpu"):
        self.config = config
        self.name = config.name
        self.weight = config.weight
        self.device = device  # where a member's own model runs
        self._model: Any = None  # loaded on first use by the members that have one
        self.stats = MemberStats()
        self.last_unjudged: list[Unjudged | None] = []  # per item of the last `score` call: why it has no score

    def score(self, items: list[JudgeItem], show_progress: bool = False) -> list[Verdict | None]:
        if not items:  # nothing to load a model or call a provider for
            self.last_unjudged = []
            return []
        started = time.perf_counter()
        verdicts, reasons = self._score(items, show_progress)
        self.stats.seconds += time.perf_counter() - started
        self.stats.count(verdicts, reasons)
        self.last_unjudged = [
            None if verdict is not None else reason if isinstance(reason, Unjudged) else Unjudged(reason or "no score")
            for verdict, reason in zip(verdicts, reasons, strict=True)
        ]
        return verdicts

    def _score(
        self, items: list[JudgeItem], show_progress: bool
    ) -> tuple[list[Verdict | None], list[str | Unjudged | None]]:
        raise NotImplementedError

    def prefer(
        self, pairs: list[JudgePair], tie_margin: float = 0.0, show_progress: bool = False
    ) -> list[Verdict | None]:
        """Per pair, a verdict whose score is the preference for the first answer: 1, 0, or 0.5 for a tie; None:
        unjudged (`last_unjudged` says why). Here each answer is scored alone and the higher score wins (a difference
        up to `tie_margin` is a tie), so the order cannot matter; an LLM member with a pairwise rubric overrides it."""
        if not pairs:
            self.last_unjudged = []
            return []
        firsts, seconds = zip(*(pair.items() for pair in pairs), strict=True)
        scores = self.score([*firsts, *seconds], show_progress)
        reasons = self.last_unjudged
        verdicts: list[Verdict | None] = []
        unjudged: list[Unjudged | None] = []
        for index, (first, second) in enumerate(zip(scores[: len(pairs)], scores[len(pairs) :], strict=True)):
            if first is None or second is None:
                verdicts.append(None)
                unjudged.append(reasons[index] or reasons[len(pairs) + index])
                continue
            difference = first.score - second.score
            preference = 0.5 if abs(difference) <= tie_margin else float(difference > 0)
            verdicts.append(Verdict(preference, {"first": first.score, "second": second.score}))
            unjudged.append(None)
        self.last_unjudged = unjudged
        return verdicts

    def usage(self) -> UsageReport | None:
        """Calls and tokens of an LLM member; None for the others (local forward passes, timed in stats)."""
        return None


class LlmJudge(Member):
    """A rubric prompt per item through an `LLMProvider`: its retries, concurrency and response cache."""

    kind = "llm"

    def __init__(
        self,
        config: LlmMember,
        provider: LLMProvider | None = None,
        rubric: Rubric | None = None,
        pairwise_rubric: Rubric | None = None,
    ):
        super().__init__(config)
        self.rubric = rubric or load_rubric(config.rubric)
        if self.rubric.pairwise:
            raise RubricError(
                f"member {config.name!r}: rubric {config.rubric!r} compares two answers; set it as pairwise_rubric, "
                "and give `rubric` one that scores a single answer (accuracy_style, ...)"
            )
        self.pairwise_rubric = pairwise_rubric or (
            load_rubric(config.pairwise_rubric) if config.pairwise_rubric is not None else None
        )
        if self.pairwise_rubric is not None and not self.pairwise_rubric.pairwise:
            raise RubricError(
                f"member {config.name!r}: pairwise_rubric {config.pairwise_rubric!r} scores one answer "
                "(format json or score_line); a pairwise rubric has `format: winner_line`"
            )
        self._provider = provider

    @property
    def provider(self) -> LLMProvider:
        if self._provider is None:
            from llm_engineering.infrastructure.llm.factory import build_provider

            self._provider = build_provider(self.config.llm)
        return self._provider

    def prompt(self, item: JudgeItem) -> str:
        return self.rubric.render(item.question, item.answer, item.reference, item.context)

    def requests(self, items: list[JudgeItem]) -> list[ChatRequest]:
        return [
            ChatRequest(
                messages=[
                    {"role": "user", "content": self.rubric.render(i.question, i.answer, i.reference, i.context)}
                ],
                response_format=self.rubric.response_format,
                temperature=0.0,
                max_new_tokens=self.config.max_new_tokens,  # None: the provider's llm.max_new_tokens
                key=f"judge:{self.name}:{i.key or index}",
            )
            for index, i in enumerate(items)
        ]

    def _score(
        self, items: list[JudgeItem], show_progress: bool
    ) -> tuple[list[Verdict | None], list[str | Unjudged | None]]:
        verdicts: list[Verdict | None] = []
        reasons: list[str | Unjudged | None] = []
        for result in self.provider.generate(self.requests(items), show_progress=show_progress):
            values = self.rubric.parse(result.text) if result.ok else None
            if values is None:
                # The verdict as the judge wrote it, or the call's error: what a report shows for this item.
                if result.ok:
                    unjudged = Unjudged("unparseable verdict", result.text)
                else:
                    unjudged = Unjudged("call failed", result.error or "")
                self.stats.first_error = self.stats.first_error or (result.error or f"verdict {result.text[:300]!r}")
                verdicts.append(None)
                reasons.append(unjudged)
            else:
                verdicts.append(Verdict(self.rubric.score(values), {k: float(v) for k, v in values.items()}))
                reasons.append(None)
        return verdicts, reasons

    def prefer(
        self, pairs: list[JudgePair], tie_margin: float = 0.0, show_progress: bool = False
    ) -> list[Verdict | None]:
        """With a pairwise rubric: both answers in one prompt, one `Winner:` verdict per pair. Without: each answer
        scored alone by `rubric` (Member.prefer)."""
        rubric = self.pairwise_rubric
        if rubric is None or not pairs:
            return super().prefer(pairs, tie_margin, show_progress)
        started = time.perf_counter()
        requests = [
            ChatRequest(
                messages=[
                    {
                        "role": "user",
                        "content": rubric.render_pair(p.question, p.first, p.second, p.reference, p.context),
                    }
                ],  # fmt: skip
                temperature=0.0,
                max_new_tokens=self.config.max_new_tokens,
                key=f"judge:{self.name}:pair:{p.key or index}",
            )
            for index, p in enumerate(pairs)
        ]
        verdicts: list[Verdict | None] = []
        unjudged: list[Unjudged | None] = []
        for result in self.provider.generate(requests, show_progress=show_progress):
            preference = rubric.parse_winner(result.text) if result.ok else None
            if preference is None:
                reason = Unjudged("unparseable verdict", result.text) if result.ok else Unjudged(
                    "call failed", result.error or ""
                )  # fmt: skip
                self.stats.first_error = self.stats.first_error or (result.error or f"verdict {result.text[:300]!r}")
                verdicts.append(None)
                unjudged.append(reason)
            else:
                verdicts.append(Verdict(preference, {"preference_first": preference}))
                unjudged.append(None)
        self.stats.seconds += time.perf_counter() - started
        self.stats.count(verdicts, unjudged)
        self.last_unjudged = unjudged
        return verdicts

    def usage(self) -> UsageReport | None:
        return self.provider.usage() if self._provider is not None else UsageReport()


class RewardModelJudge(Member):
    kind = "reward_model"
    config: RewardModelMember

    def _score(self, items: list[JudgeItem], show_progress: bool) -> tuple[list[Verdict | None], list[str | None]]:
        from llm_engineering.infrastructure.reward_scorer import RewardModelScorer

        if self._model is None:
            self._model = RewardModelScorer(self.config.folder, self.device, max_length=self.config.max_length)
        rewards = self._model.score([i.question for i in items], [i.answer for i in items], self.config.batch_size)
        return [Verdict(_sigmoid(r), {"reward": r}) for r in rewards], [None] * len(items)


class EmbeddingRelevanceJudge(Member):
    kind = "embedding_relevance"
    config: EmbeddingRelevanceMember

    def _score(self, items: list[JudgeItem], show_progress: bool) -> tuple[list[Verdict | None], list[str | None]]:
        from llm_engineering.infrastructure.embedder import Embedder

        embedder = Embedder(self.config.model, self.device, self.config.batch_size)
        questions = embedder.encode([i.question for i in items])
        answers = embedder.encode([i.answer for i in items])
        cosines = (questions * answers).sum(axis=1)  # both normalised
        return [Verdict(min(max(float(c), 0.0), 1.0), {"cosine": float(c)}) for c in cosines], [None] * len(items)


class DifficultyJudge(Member):
    kind = "instruction_following_difficulty"
    config: DifficultyMember

    def _score(self, items: list[JudgeItem], show_progress: bool) -> tuple[list[Verdict | None], list[str | None]]:
        from llm_engineering.infrastructure.answer_likelihood import AnswerLikelihood

        if self._model is None:
            self._model = AnswerLikelihood(self.config.model, self.device, self.config.max_length)
        answers = [i.answer for i in items]
        batch = self.config.batch_size
        given = self._model.losses([i.question for i in items], answers, batch)
        alone = self._model.losses([None] * len(items), answers, batch)
        verdicts: list[Verdict | None] = []
        reasons: list[str | None] = []
        for conditioned, bare in zip(given, alone, strict=True):
            if conditioned is None or bare is None or bare == 0:
                verdicts.append(None)
                reasons.append("answer too short to measure")
                continue
            ifd = math.exp(conditioned) / math.exp(bare)
            verdicts.append(Verdict(1.0 - min(ifd, 1.0), {"ifd": ifd}))
            reasons.append(None)
        return verdicts, reasons


class WellFormedJudge(Member):
    kind = "well_formed"
    config: WellFormedMember

    def _score(self, items: list[JudgeItem], show_progress: bool) -> tuple[list[Verdict | None], list[str | None]]:
        from llm_engineering.application.quality_filters import distinct_ngrams
        from llm_engineering.application.sample_text import ends_mid_sentence

        verdicts: list[Verdict | None] = []
        for item in items:
            complete = 0.0 if ends_mid_sentence(item.answer) or not item.answer.strip() else 1.0
            distinct, total = distinct_ngrams(item.answer, self.config.n)
            ratio = distinct / total if total >= self.config.min_ngrams else 1.0
            verdicts.append(Verdict((complete + ratio) / 2, {"complete": complete, "distinct": ratio}))
        return verdicts, [None] * len(items)


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value)) if value >= 0 else math.exp(value) / (1.0 + math.exp(value))


Builder = Callable[[Any, str], Member]
MEMBER_BUILDERS: dict[str, Builder] = {
    "llm": lambda config, _device: LlmJudge(config),
    "reward_model": RewardModelJudge,
    "embedding_relevance": EmbeddingRelevanceJudge,
    "instruction_following_difficulty": DifficultyJudge,
    "well_formed": WellFormedJudge,
}

if set(MEMBER_BUILDERS) != set(MEMBER_KINDS):  # the config's kinds and this registry must not drift apart
    raise RuntimeError(f"jury member registry mismatch: {sorted(set(MEMBER_BUILDERS) ^ set(MEMBER_KINDS))}")


def build_member(config: Any, device: str = "cpu") -> Member:
    return MEMBER_BUILDERS[config.kind](config, device)
