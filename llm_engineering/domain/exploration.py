"""What the exploration of one dataset version found: statistics, a topic map, a review sample; and the verdicts a
person gave on that sample. Each explored version is one `DatasetExploration`; the feature run saves them together."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Histogram(BaseModel):
    """Counts over equal-width bins from `edges[0]` to `edges[-1]` (len(edges) == len(counts) + 1)."""

    edges: list[float] = []
    counts: list[int] = []
    mean: float | None = None
    median: float | None = None
    maximum: float | None = None


class LengthDistribution(BaseModel):
    """Token lengths of one text field over one group of samples (a split, a source or the whole version)."""

    field: str = Field(description="instruction, answer, prompt, chosen or rejected")
    group: str = Field(description="'all', 'split: train', 'source: articles', ...")
    samples: int
    histogram: Histogram


class TextDiversity(BaseModel):
    """Lexical diversity of one text field over the whole version (lowercased word tokens)."""

    field: str
    words: int
    vocabulary: int = Field(description="distinct words")
    distinct_1: float = Field(description="distinct words / words (0 with no words)")
    distinct_2: float = Field(description="distinct word bigrams / bigrams, each text's bigrams on their own")


class Count(BaseModel):
    name: str
    count: int


class ScoreDistribution(BaseModel):
    """One judge score column (score_judge, score_judge_<member>, ...) or a side's score of a preference pair."""

    column: str
    scored: int = Field(description="samples with a score in this column")
    histogram: Histogram


class DatasetStatistics(BaseModel):
    samples: int
    splits: list[Count] = []
    sources: list[Count] = Field([], description="samples per source, most first")
    documents: int = Field(0, description="distinct source documents")
    top_documents: list[Count] = Field([], description="the documents with the most samples")
    samples_per_document: Histogram = Histogram()
    tokenizer: str = Field(description="what counted the tokens: a tokenizer's name, or 'whitespace (words)'")
    lengths: list[LengthDistribution] = []
    diversity: list[TextDiversity] = []
    opening_phrases: list[Count] = Field([], description="the most frequent first three words of instructions")
    scores: list[ScoreDistribution] = Field([], description="judge score columns, when a judge stage ran")
    chosen_minus_rejected_tokens: Histogram | None = Field(
        None, description="preferences: per pair, chosen tokens minus rejected tokens (near 0: length tells no side)"
    )


class TopicCluster(BaseModel):
    cluster: int = Field(description="HDBSCAN's label, 0.. (noise points are not a cluster)")
    label: str = Field(description="its top c-TF-IDF terms")
    terms: list[str] = []
    size: int
    train: int = 0
    test: int = 0
    mean_score: float | None = Field(None, description="mean of the main judge score column, where scored")
    examples: list[str] = Field([], description="instructions (prompts) of a few of its samples")


class MapPoint(BaseModel):
    """One sample on the 2-D map."""

    sample_id: str
    x: float
    y: float
    cluster: int = Field(description="-1: noise (an outlier)")
    split: str
    text: str = Field(description="the instruction (prompt), shortened: the hover text")


class Outlier(BaseModel):
    sample_id: str
    split: str
    source: str
    text: str


TopicMapStatus = Literal["clustered", "too_few_samples", "failed", "disabled"]


class TopicMap(BaseModel):
    status: TopicMapStatus
    message: str = Field("", description="why there is no map (too few samples, the error), or how it was made")
    clusters: list[TopicCluster] = []
    points: list[MapPoint] = []
    outliers: list[Outlier] = []
    vectors_from_chunks: int = Field(0, description="samples mapped with their chunk's vector from Qdrant")
    vectors_embedded: int = Field(0, description="samples embedded here (no chunk vector found)")
    seconds: float = 0.0

    def cluster_of(self) -> dict[str, int]:
        """sample id -> its cluster (-1: noise)."""
        return {point.sample_id: point.cluster for point in self.points}


class ReviewRow(BaseModel):
    """One sample of the stratified review sample, as the CSV a person fills in holds it: what to judge first, then
    where it comes from, then the two columns to fill in."""

    stratum: str = Field(description="the cluster ('cluster 2: oven, bake') or the source it was drawn from")
    instruction: str = Field(description="the instruction, or a preference pair's prompt")
    answer: str = Field(description="the answer, or a preference pair's chosen answer")
    rejected: str = Field("", description="a preference pair's rejected answer")
    split: str
    source: str
    sample_id: str
    dataset: str
    version: str
    verdict: str = Field("", description="left empty for the reviewer: accept or reject")
    reason: str = Field("", description="left empty for the reviewer: why (a rejection's reason is recorded)")


class DatasetExploration(BaseModel):
    dataset: str = Field(description="the artifact's name, e.g. instruction_dataset")
    version: str
    kind: Literal["instruction", "preference"]
    statistics: DatasetStatistics
    topic_map: TopicMap
    review_sample: list[ReviewRow] = []
    errors: list[str] = Field([], description="what failed (plotting, clustering); the rest is still reported")
    seconds: float = 0.0


class DatasetExplorations(BaseModel):
    """The feature run's explorations: one per dataset version it published."""

    explorations: list[DatasetExploration] = []


Verdict = Literal["accept", "reject"]


class ReviewVerdict(BaseModel):
    dataset: str
    version: str = Field(description="the version the reviewer saw")
    sample_id: str
    verdict: Verdict
    reason: str = ""


class ReviewVerdicts(BaseModel):
    """Every verdict imported so far, one per (dataset, sample): the later import of a sample replaces the earlier.
    The feature pipeline removes the rejected samples from the next version of their dataset."""

    verdicts: list[ReviewVerdict] = []

    def rejected(self, dataset: str) -> dict[str, str]:
        """sample id -> the reviewer's reason, for the rejected samples of `dataset`."""
        return {v.sample_id: v.reason for v in self.verdicts if v.dataset == dataset and v.verdict == "reject"}

    def merged(self, newer: list[ReviewVerdict]) -> ReviewVerdicts:
        by_key = {(v.dataset, v.sample_id): v for v in self.verdicts}
        by_key.update({(v.dataset, v.sample_id): v for v in newer})
        return ReviewVerdicts(verdicts=sorted(by_key.values(), key=lambda v: (v.dataset, v.sample_id)))
