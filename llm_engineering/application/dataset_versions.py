"""Build the next dataset versions: the previous version's samples keep their split, new samples
join it; a document never lands in both halves, and both datasets agree on each document's half."""

from __future__ import annotations

from datasets import DatasetDict
from pydantic import BaseModel

from llm_engineering.application.dataset_curation import assign_splits
from llm_engineering.application.dataset_publication import from_dataset_dict, to_dataset_dict
from llm_engineering.application.exploration.review import remove_rejected
from llm_engineering.domain.config.dataset_quality import SplitConfig
from llm_engineering.domain.exploration import ReviewVerdicts
from llm_engineering.domain.samples import CuratedInstructions, CuratedPreferences, CurationReport, RemovedSample


class DatasetVersions(BaseModel, arbitrary_types_allowed=True):
    instruction: DatasetDict
    preference: DatasetDict
    instruction_report: CurationReport
    preference_report: CurationReport
    reviewed_out: list[RemovedSample] = []  # both datasets' samples a reviewer rejected, left out of these versions


def _known_assignment(*datasets: DatasetDict | None) -> dict[str, str]:
    assignment: dict[str, str] = {}
    for dataset in datasets:
        if dataset is not None:
            for split in dataset:
                assignment.update(dict.fromkeys(dataset[split]["document_id"], split))
    return assignment


def next_versions(
    instructions: CuratedInstructions,
    preferences: CuratedPreferences,
    split: SplitConfig,
    previous_instruction: DatasetDict | None,
    previous_preference: DatasetDict | None,
    review: ReviewVerdicts | None = None,
) -> DatasetVersions:
    """`review`: the samples a reviewer rejected are left out, from the previous version's and the new ones alike (a
    sample id is content-derived: a regenerated sample is the same sample), each a `review` removal in the report."""
    review = review or ReviewVerdicts()
    reviewed_out: list[RemovedSample] = []
    assignment = _known_assignment(previous_instruction, previous_preference)
    new_train, new_test, assignment = assign_splits(instructions.samples, assignment, split.test_fraction, split.seed)
    pref_train, pref_test, _ = assign_splits(preferences.samples, assignment, split.test_fraction, split.seed)

    def merged(previous: DatasetDict | None, kind: str, train: list, test: list, report: CurationReport
               ) -> tuple[DatasetDict, CurationReport]:  # fmt: skip
        old = from_dataset_dict(previous, kind) if previous is not None else {}
        train, test = old.get("train", []) + train, old.get("test", []) + test
        rejected = review.rejected(f"{kind}_dataset")
        text = "instruction" if kind == "instruction" else "prompt"
        _, removed, count = remove_rejected([*train, *test], rejected, text)
        report = report.model_copy(deep=True)
        if count is not None:
            reviewed_out.extend(removed)
            gone = {r.sample_id for r in removed}
            train, test = [s for s in train if s.sample_id not in gone], [s for s in test if s.sample_id not in gone]
            report.stages.append(count)
            report.reviewed_out = len(removed)
        dataset = to_dataset_dict(train, test, kind)
        report.train, report.test = len(dataset["train"]), len(dataset["test"])
        return dataset, report

    instruction, instruction_report = merged(previous_instruction, "instruction", new_train, new_test,
                                             instructions.report)  # fmt: skip
    preference, preference_report = merged(previous_preference, "preference", pref_train, pref_test,
                                           preferences.report)  # fmt: skip
    return DatasetVersions(
        instruction=instruction,
        preference=preference,
        instruction_report=instruction_report,
        preference_report=preference_report,
        reviewed_out=reviewed_out,
    )
