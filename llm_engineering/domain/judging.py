"""What a jury reports: per member, how many it judged, why the rest went unjudged, and what it cost; agreement."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MemberReport(BaseModel):
    name: str
    kind: str
    judged: int = 0
    unjudged_by_reason: dict[str, int] = {}
    mean_score: float | None = Field(None, description="mean of its [0, 1] scores over the samples it judged")
    seconds: float = 0.0
    calls: int = Field(0, description="LLM members: requests the model answered (cache hits are not calls)")
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_per_1k_samples_usd: float = 0.0
    first_error: str | None = None


class JuryReport(BaseModel):
    aggregate: str
    samples: int = 0
    judged: int = 0
    unjudged: int = Field(0, description="samples fewer than the quorum of members scored: counted, never guessed")
    mean_score: float | None = None
    members: list[MemberReport] = []
    krippendorff_alpha: float | None = Field(
        None, description="agreement of all members (interval metric; None with one member or no variation)"
    )
    pairwise_spearman: dict[str, float | None] = Field({}, description="'a|b' -> rank correlation of two members")
