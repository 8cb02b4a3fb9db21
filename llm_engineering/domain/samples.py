"""Instruction and preference samples, from generation through filtering to the final datasets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from llm_engineering.domain.evolution import EvolutionReport
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.llm_usage import UsageReport


class InstructionSample(BaseModel):
    sample_id: str = Field(description="content-derived: stable across reruns")
    instruction: str
    answer: str
    document_id: str = Field(description="source document: the unit of the leak-free split")
    chunk_id: str
    source: str
    extract: str = Field("", description="the text the pair was generated from (grounding checks)")
    scores: dict[str, float] = Field({}, description="judge scores by column name (a judge curation stage's)")
    # Set by an evol_instruct curation stage on the samples it adds; empty on every other sample. sample_id stays
    # content-derived (the parent, the mutation and the evolved text).
    parent_id: str | None = Field(None, description="evolved samples: the sample this one was evolved from")
    mutation: str | None = Field(None, description="evolved samples: the mutation (add_constraints, in_breadth, ...)")
    generated_answer: bool = Field(
        False, description="the answer was generated for an evolved instruction, not produced with the pair itself "
        "(the grounding filter's `generated_answers` decides whether it is checked)"
    )  # fmt: skip

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.instruction}, {"role": "assistant", "content": self.answer}]


class PreferenceSample(BaseModel):
    sample_id: str
    prompt: str
    chosen: str
    rejected: str
    document_id: str
    chunk_id: str
    source: str
    extract: str = ""
    strategy: str = Field("", description="extract_vs_generated, judge_ranked or reward_ranked")
    scores: dict[str, float] = Field({}, description="judge scores by column name (a judge curation stage's)")


class RemovedSample(BaseModel):
    """A sample a filter, dedup or decontamination removed, and why: nothing goes silently."""

    sample_id: str
    stage: str = Field(
        description="the curation stage's name (e.g. filter:length, dedup:minhash; decontamination:ngram names the "
        "method too), or generation:<check> for a pair dropped while it was generated"
    )
    reason: str
    score: float | None = Field(None, description="what the stage measured, if it measures (overlap, similarity)")
    matched: str | None = Field(None, description="the kept sample id or eval-set item it matched")
    text: str = ""


class FailedGeneration(BaseModel):
    """A generation that failed after its repair retry: kept with the raw output for inspection."""

    chunk_id: str
    task: str
    error: str = Field(description="what went wrong, verbatim: the call's error (timeout, HTTP status and body, "
                       "connection error) or why the reply could not be used")  # fmt: skip
    raw_output: str = Field("", description="the model's reply as it came (a judge's unparseable verdicts)")
    cause: str = Field("", description="the failed call's kind (timeout, HTTP 500, connection error, ...), or the "
                       "judge's (unparseable verdict); empty for a reply that did not parse")  # fmt: skip

    @property
    def kind(self) -> str:
        """The error without its details ("LLM call failed: timeout", "after repair: invalid JSON"): what reports
        count."""
        prefix = "after repair: " if self.error.startswith("after repair: ") else ""
        head = prefix + self.error.removeprefix(prefix).split(": ", 1)[0]
        return f"{head}: {self.cause}" if self.cause else head


class Extract(BaseModel):
    """1-2k characters of one document (consecutive chunks merged): what one generation prompt sees."""

    extract_id: str
    document_id: str
    chunk_ids: list[str]
    source: str
    location: str
    author: str | None = None
    text: str


class GeneratedInstructions(BaseModel):
    samples: list[InstructionSample] = []
    failures: list[FailedGeneration] = []
    dropped: list[RemovedSample] = Field([], description="generated, then dropped for its quality: not a failure")
    extracts: int = 0
    usage: UsageReport | None = Field(None, description="what the LLM provider did; None: not recorded")


class GeneratedPreferences(BaseModel):
    samples: list[PreferenceSample] = []
    failures: list[FailedGeneration] = []
    dropped: list[RemovedSample] = Field(
        [], description="pairs generated, then dropped (a truncated answer): counted apart from the failures"
    )
    answers_generated: int = Field(0, description="answers this step generated (rejected answers or candidates)")
    answers_truncated: int = Field(0, description="of those, cut off by the token budget (finish_reason length)")
    ranking: JuryReport | None = Field(None, description="judge_ranked / reward_ranked: the ranking jury's report")
    usage: UsageReport | None = Field(None, description="what the LLM provider did; None: not recorded")


class StageCount(BaseModel):
    stage: str
    samples_in: int
    samples_out: int
    removed_by_reason: dict[str, int] = {}
    added: int = Field(0, description="samples the stage added (evol_instruct's evolutions)")


class CurationReport(BaseModel):
    """How a dataset version came to be: one row per stage, plus what generation cost."""

    dataset: str
    stages: list[StageCount] = []
    previous_version_samples: int = 0
    new_samples: int = 0
    train: int = 0
    test: int = 0
    generation_failures: int = 0
    failures_by_reason: dict[str, int] = {}
    usage: UsageReport | None = Field(None, description="what the LLM provider did; None: not recorded")
    decontamination: dict[str, dict[str, int]] = {}
    dropped_at_generation: dict[str, int] = Field({}, description="reason -> pairs generated but dropped")
    answers_generated: int = 0
    answers_truncated: int = Field(0, description="generated answers cut off by the token budget")
    judges: dict[str, JuryReport] = Field({}, description="judge stage name -> its jury's report")
    evolution: dict[str, EvolutionReport] = Field({}, description="evol_instruct stage name -> its report")
    reviewed_out: int = Field(
        0, description="samples a reviewer rejected (review_verdicts), left out of this version: its `review` stage"
    )


class CuratedInstructions(BaseModel):
    samples: list[InstructionSample] = []
    removed: list[RemovedSample] = []
    report: CurationReport


class CuratedPreferences(BaseModel):
    samples: list[PreferenceSample] = []
    removed: list[RemovedSample] = []
    report: CurationReport


class RemovedSamples(BaseModel):
    samples: list[RemovedSample] = []


class PublishedDataset(BaseModel):
    """What publication did with one dataset: a new version, or none (and why)."""

    name: str
    status: Literal["published", "unchanged", "empty"] = Field(
        description="published: a new version; unchanged: no new samples, the latest version stays; empty: no samples "
        "at all and no earlier version, so nothing was published"
    )
    version: str | None = Field(None, description="the new version (published only)")
    train: int = 0
    test: int = 0
    new_samples: int = 0
    previous_version_samples: int = 0
    destinations: dict[str, str] = Field({}, description="JSONL files and Hub repos it was also written to")


class DatasetPublication(BaseModel):
    datasets: list[PublishedDataset] = []

    def describe(self) -> list[str]:
        lines = []
        for d in self.datasets:
            if d.status == "published":
                lines.append(f"{d.name}: version {d.version} ({d.train} train / {d.test} test, {d.new_samples} new)")
            elif d.status == "unchanged":
                lines.append(f"{d.name}: no new samples, no new version (the latest stays as it is)")
            else:
                lines.append(f"{d.name}: no samples, nothing published")
        return lines
