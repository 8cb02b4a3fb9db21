"""A jury: its members score the same items, their scores combine by mean, median or majority, and the report says
how far they agree and what each cost.

An item is judged when at least `quorum` members scored it (default: all); otherwise it has no score, and the caller
decides what that means (the curation stage keeps or drops it as configured, and counts it either way). More
unjudged items than `max_unjudged_fraction` raises `JuryFailed`: a judge that is down must not quietly decide the
data.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from llm_engineering.application.judging.agreement import krippendorff_alpha, pairwise_spearman
from llm_engineering.application.judging.members import (
    JudgeItem,
    JudgePair,
    Member,
    Unjudged,
    Verdict,
    build_member,
)
from llm_engineering.domain.config.judging import JuryConfig
from llm_engineering.domain.judging import JuryReport, MemberReport


class JuryFailed(RuntimeError):
    """Too many items went unjudged: the members' errors say why (an endpoint down, verdicts that do not parse)."""


@dataclass(frozen=True)
class JuryVerdict:
    score: float | None  # the aggregate; None: unjudged (fewer members than the quorum scored it)
    members: dict[str, Verdict | None]
    unjudged: dict[str, Unjudged] = field(default_factory=dict)  # member -> why it gave no score (raw verdict, error)

    def columns(self, prefix: str) -> dict[str, float]:
        """`{prefix}` (the aggregate), `{prefix}_{member}` and `{prefix}_{member}_{dimension}`: dataset columns."""
        values: dict[str, float] = {} if self.score is None else {prefix: round(self.score, 6)}
        for name, verdict in self.members.items():
            if verdict is not None:
                values[f"{prefix}_{name}"] = round(verdict.score, 6)
                values.update({f"{prefix}_{name}_{d}": round(v, 6) for d, v in verdict.dimensions.items()})
        return values


class Jury:
    def __init__(self, config: JuryConfig, members: Sequence[Member] | None = None, device: str = "cpu"):
        self.config = config
        self.members = list(members) if members is not None else [build_member(m, device) for m in config.members]
        self._scores: list[list[float | None]] = [[] for _ in self.members]  # every item scored so far, per member
        self._aggregates: list[float | None] = []

    def judge(self, items: list[JudgeItem], show_progress: bool = False, check: bool = True) -> list[JuryVerdict]:
        """One verdict per item. `check`: raise JuryFailed when too many of these items went unjudged."""
        per_member = [member.score(items, show_progress) for member in self.members]
        verdicts = []
        for index in range(len(items)):
            given = {m.name: scores[index] for m, scores in zip(self.members, per_member, strict=True)}
            unjudged = {m.name: why for m in self.members if (why := _why(m, index)) is not None}
            verdicts.append(JuryVerdict(self.aggregate(given), given, unjudged))
        for row, scores in zip(self._scores, per_member, strict=True):
            row.extend(v.score if v is not None else None for v in scores)
        self._aggregates.extend(v.score for v in verdicts)
        if check:
            self.check([v.score for v in verdicts])
        return verdicts

    def compare(
        self, pairs: list[JudgePair], tie_margin: float = 0.0, show_progress: bool = False
    ) -> list[JuryVerdict]:
        """One verdict per pair, its score the jury's preference for the first answer in [0, 1] (0.5: a tie): each
        member's preference (members.Member.prefer), combined as `aggregate` says; majority is the share of members
        preferring the first answer, a tie counting half. Below the quorum: None. Pairwise verdicts stay out of
        `report()`'s score agreement, which is about scores of single answers."""
        per_member = [member.prefer(pairs, tie_margin, show_progress) for member in self.members]
        verdicts = []
        for index in range(len(pairs)):
            given = {m.name: preferences[index] for m, preferences in zip(self.members, per_member, strict=True)}
            unjudged = {m.name: why for m in self.members if (why := _why(m, index)) is not None}
            scored = [verdict.score for verdict in given.values() if verdict is not None]
            if self.config.aggregate == "majority" and len(scored) >= self.config.required_members:
                preference: float | None = sum(1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0 for p in scored) / len(
                    scored
                )
            else:
                preference = self.aggregate(given)
            verdicts.append(JuryVerdict(preference, given, unjudged))
        return verdicts

    def aggregate(self, given: dict[str, Verdict | None]) -> float | None:
        """The aggregate of the members' verdicts on one item; None below the quorum."""
        scored = [(m, given[m.name]) for m in self.members if given[m.name] is not None]
        if len(scored) < self.config.required_members:
            return None
        scores = [verdict.score for _, verdict in scored]  # type: ignore[union-attr]
        if self.config.aggregate == "median":
            return float(statistics.median(scores))
        if self.config.aggregate == "majority":
            return sum(score >= self.config.pass_score for score in scores) / len(scores)
        weights = [member.weight for member, _ in scored]
        return sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights)

    def check(self, aggregates: Sequence[float | None]) -> None:
        unjudged = sum(score is None for score in aggregates)
        if aggregates and unjudged / len(aggregates) > self.config.max_unjudged_fraction:
            errors = "; ".join(
                f"{m.name}: {m.stats.first_error}" for m in self.members if m.stats.first_error is not None
            )
            raise JuryFailed(
                f"{unjudged} of {len(aggregates)} samples unjudged, more than max_unjudged_fraction "
                f"{self.config.max_unjudged_fraction} ({errors or 'no member gave a reason'}); fix the judge "
                "(endpoint, model, rubric) or raise jury.max_unjudged_fraction"
            )

    def report(self) -> JuryReport:
        samples = len(self._aggregates)
        judged = [score for score in self._aggregates if score is not None]
        members = []
        for member, scores in zip(self.members, self._scores, strict=True):
            own = [score for score in scores if score is not None]
            usage = member.usage()
            row = MemberReport(
                name=member.name,
                kind=member.kind,
                judged=member.stats.judged,
                unjudged_by_reason=dict(member.stats.unjudged_by_reason),
                mean_score=sum(own) / len(own) if own else None,
                seconds=round(member.stats.seconds, 3),
                first_error=member.stats.first_error,
            )
            if usage is not None:
                row.calls, row.cached = usage.calls, usage.cached
                row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
                row.cost_usd = usage.cost_usd
                row.cost_per_1k_samples_usd = usage.cost_usd / samples * 1000 if samples else 0.0
            members.append(row)
        several = len(self.members) > 1
        return JuryReport(
            aggregate=self.config.aggregate,
            samples=samples,
            judged=len(judged),
            unjudged=samples - len(judged),
            mean_score=sum(judged) / len(judged) if judged else None,
            members=members,
            krippendorff_alpha=krippendorff_alpha(self._scores) if several else None,
            pairwise_spearman=pairwise_spearman([m.name for m in self.members], self._scores) if several else {},
        )


def _why(member: Member, index: int) -> Unjudged | None:
    return member.last_unjudged[index] if index < len(member.last_unjudged) else None
