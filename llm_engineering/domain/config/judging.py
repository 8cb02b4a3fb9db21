"""A judge, or a jury of them: who scores a (question, answer) pair, and how their scores combine.

One component serves curation (the `judge` stage), preference ranking (`judge_ranked`, `reward_ranked`) and
evaluation. A jury is a list of members, each told apart by `kind`:

    jury:
      aggregate: mean                      # mean | median | majority
      members:
        - {kind: llm, name: local, rubric: accuracy_style}                       # the bundled SmolLM2
        - {kind: llm, name: gpt, rubric: multi_dimension,
           llm: {provider: openai, base_url: http://localhost:8000/v1, model: gpt-4o-mini}}
        - {kind: reward_model, name: rm, folder: output/reward_model}
        - {kind: embedding_relevance, name: relevance}
        - {kind: instruction_following_difficulty, name: ifd}
        - {kind: well_formed, name: well_formed}

Every member turns a pair into a score in [0, 1] (higher is better), or into no score at all (the call failed or the
verdict did not parse): counted as unjudged, never guessed. An LLM member's score is the weighted mean of its rubric's
dimensions, each scaled to [0, 1]; its raw dimension values are kept too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel
from llm_engineering.domain.config.llm import LLMConfig

_NAME = r"^[a-z][a-z0-9_]*$"  # member names become dataset columns: judge_<member>, judge_<member>_<dimension>


class MemberBase(StrictModel):
    name: str = Field(pattern=_NAME, description="the member's name in reports and dataset columns")
    weight: float = Field(1.0, gt=0, description="its weight in the jury's mean (median and majority ignore it)")


class LlmMember(MemberBase):
    """An LLM judge: a rubric prompt, answered by any provider (with its retries, failure handling and cache)."""

    kind: Literal["llm"]
    llm: LLMConfig = Field(
        LLMConfig(temperature=0.0, max_new_tokens=96),
        description="the judge's provider, model, endpoint, retries and cache (default: the bundled local model)",
    )
    rubric: str = Field(
        "accuracy_style",
        description="a shipped rubric (accuracy_style, multi_dimension, grounded, reward_score) or the path of a "
        "rubric file: a front matter naming the dimensions and the output format, then the prompt",
    )
    max_new_tokens: int | None = Field(
        None, gt=0, description="the verdict's token budget; unset: `llm.max_new_tokens` (96 by default)"
    )
    pairwise_rubric: str | None = Field(
        "pairwise",
        description="the rubric that compares two answers in one prompt (evaluation's win rate): a shipped one "
        "(pairwise) or a file with `format: winner_line`; null: compare the two answers' `rubric` scores",
    )


class RewardModelMember(MemberBase):
    """A sequence-classification reward model (num_labels=1): its reward through a sigmoid, so 0.5 is neutral."""

    kind: Literal["reward_model"]
    folder: Path = Field(description="a local reward model folder (e.g. the one a reward_model training stage wrote)")
    batch_size: int = Field(8, gt=0)
    max_length: int | None = Field(None, gt=0, description="tokens per pair; longer ones keep their last tokens")


class EmbeddingRelevanceMember(MemberBase):
    """Cosine similarity of the answer's embedding to the question's (the project's embedding model), clipped to
    [0, 1]: cheap, and it catches answers to another question."""

    kind: Literal["embedding_relevance"]
    model: str = Field("bundled:all-MiniLM-L6-v2", description="a sentence-transformers model (bundled: or a folder)")
    batch_size: int = Field(32, gt=0)


class DifficultyMember(MemberBase):
    """Instruction-following difficulty (IFD, Li et al. 2023) under a causal LM: the answer's perplexity given the
    question over its perplexity alone. Near or above 1 the question does not help predict the answer (a mismatched
    pair); the score is 1 - min(IFD, 1), and the raw IFD is kept as the `ifd` dimension."""

    kind: Literal["instruction_following_difficulty"]
    model: str = Field("bundled:SmolLM2-135M-Instruct", description="the causal LM (bundled:, a folder or Hub id)")
    batch_size: int = Field(4, gt=0)
    max_length: int = Field(512, gt=0, description="tokens per sequence; longer answers are cut")


class WellFormedMember(MemberBase):
    """Whether the answer reads as a finished, non-looping text: the mean of `complete` (1 when it ends at a sentence,
    bracket, quote or code fence; 0 when it stops mid-sentence, as a generation cut by its token budget does) and
    `distinct` (the share of its word n-grams that are distinct; a degenerate loop repeats them). No model, no call:
    the C4 / Gopher heuristics as a score, which no relevance or LLM member measures."""

    kind: Literal["well_formed"]
    n: int = Field(3, ge=1, description="the n-gram size of `distinct`")
    min_ngrams: int = Field(8, ge=1, description="answers with fewer n-grams count as fully distinct")


JuryMember = Annotated[
    LlmMember | RewardModelMember | EmbeddingRelevanceMember | DifficultyMember | WellFormedMember,
    Field(discriminator="kind"),
]
MEMBER_KINDS = ("llm", "reward_model", "embedding_relevance", "instruction_following_difficulty", "well_formed")


class JuryConfig(StrictModel):
    members: list[JuryMember] = Field(min_length=1, description="the judges; one member is a single judge")
    aggregate: Literal["mean", "median", "majority"] = Field(
        "mean",
        description="mean (weighted) or median of the members' scores, or majority: the share of members whose "
        "score reaches pass_score",
    )
    pass_score: float = Field(0.5, ge=0, le=1, description="majority: a member votes for a sample at this score")
    quorum: int | None = Field(
        None, ge=1, description="members that must score a sample for it to count as judged (default: all of them)"
    )
    max_unjudged_fraction: float = Field(
        0.2, ge=0, le=1, description="more unjudged samples than this share (failed calls, bad verdicts) is an error"
    )

    @field_validator("members")
    @classmethod
    def _distinct_names(cls, members: list) -> list:
        names = [member.name for member in members]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"member names must be distinct (they name report rows and columns): {repeated}")
        return members

    @model_validator(mode="after")
    def _quorum_fits(self) -> JuryConfig:
        if self.quorum is not None and self.quorum > len(self.members):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.members)} members")
        return self

    @property
    def required_members(self) -> int:
        return self.quorum or len(self.members)
