"""Generated samples -> curated samples: quality filters, dedup (also against the previous dataset
version), decontamination; then the leak-free split into train and test.

Every removal is kept as a `RemovedSample` with its stage and reason, and counted per stage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from llm_engineering.application.dataset_split import split_by_document
from llm_engineering.application.decontamination import decontaminate
from llm_engineering.application.dedup import EmbedFunction, deduplicate
from llm_engineering.application.quality_filters import apply_filters
from llm_engineering.application.sample_text import Sample
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.samples import CurationReport, FailedGeneration, RemovedSample, StageCount


def curate(
    name: str,
    generated: Sequence[Sample],
    failures: Sequence[FailedGeneration],
    config: DatasetGenerationConfig,
    embed: EmbedFunction | None,
    previous: Sequence[Sample] = (),
    usage: dict[str, float] | None = None,
) -> tuple[list[Sample], list[RemovedSample], CurationReport]:
    report = CurationReport(
        dataset=name,
        previous_version_samples=len(previous),
        generation_failures=len(failures),
        failures_by_reason=dict(Counter(f.kind for f in failures)),
        usage=usage or {},
    )
    removed: list[RemovedSample] = []
    samples = list(generated)

    kept, dropped, counts = apply_filters(samples, config.quality_filters)
    report.stages.append(_stage("quality filters", samples, kept, counts))
    removed += dropped
    samples = kept

    kept, dropped, dedup_report = deduplicate(samples, config.dedup, embed=embed, previous=previous)
    report.stages.append(_stage("dedup", samples, kept, dedup_report.removed_by_method))
    removed += dropped
    samples = kept

    if config.decontamination is not None:
        kept, dropped, contamination = decontaminate(samples, config.decontamination)
        report.stages.append(_stage("decontamination", samples, kept, contamination.removed_by_method))
        report.decontamination = {s.name: _nonzero(s.removed_by_method) for s in contamination.eval_sets}
        removed += dropped
        samples = kept
    report.new_samples = len(samples)
    return samples, removed, report


def assign_splits(
    samples: Sequence[Sample], known: dict[str, str], test_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample], dict[str, str]]:
    """Documents already assigned (earlier versions, the instruction dataset) keep their half; new
    documents are split by `split_by_document`. Returns (train, test, the updated assignment)."""
    assignment = dict(known)
    unknown = [s for s in samples if s.document_id not in assignment]
    if unknown:
        new_train, new_test = split_by_document(unknown, test_fraction, seed)
        assignment.update({s.document_id: "train" for s in new_train})
        assignment.update({s.document_id: "test" for s in new_test})
    train = [s for s in samples if assignment[s.document_id] == "train"]
    test = [s for s in samples if assignment[s.document_id] == "test"]
    return train, test, assignment


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _stage(name: str, before: Sequence[Sample], after: Sequence[Sample], counts: dict[str, int]) -> StageCount:
    return StageCount(stage=name, samples_in=len(before), samples_out=len(after), removed_by_reason=_nonzero(counts))
