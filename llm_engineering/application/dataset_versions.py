"""Build the next dataset versions: the previous version's samples keep their split, new samples
join it; a document never lands in both halves, and both datasets agree on each document's half."""

from __future__ import annotations

from datasets import DatasetDict
from pydantic import BaseModel

from llm_engineering.application.dataset_curation import assign_splits
from llm_engineering.application.dataset_publication import from_dataset_dict, to_dataset_dict
from llm_engineering.domain.config.dataset_quality import SplitConfig
from llm_engineering.domain.samples import CuratedInstructions, CuratedPreferences, CurationReport


class DatasetVersions(BaseModel, arbitrary_types_allowed=True):
    instruction: DatasetDict
    preference: DatasetDict
    instruction_report: CurationReport
    preference_report: CurationReport


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
) -> DatasetVersions:
    assignment = _known_assignment(previous_instruction, previous_preference)
    new_train, new_test, assignment = assign_splits(instructions.samples, assignment, split.test_fraction, split.seed)
    pref_train, pref_test, _ = assign_splits(preferences.samples, assignment, split.test_fraction, split.seed)

    def merged(previous: DatasetDict | None, kind: str, train: list, test: list) -> DatasetDict:
        old = from_dataset_dict(previous, kind) if previous is not None else {}
        return to_dataset_dict(old.get("train", []) + train, old.get("test", []) + test, kind)

    instruction = merged(previous_instruction, "instruction", new_train, new_test)
    preference = merged(previous_preference, "preference", pref_train, pref_test)
    instruction_report = instructions.report.model_copy(
        update={"train": len(instruction["train"]), "test": len(instruction["test"])}
    )
    preference_report = preferences.report.model_copy(
        update={"train": len(preference["train"]), "test": len(preference["test"])}
    )
    return DatasetVersions(
        instruction=instruction,
        preference=preference,
        instruction_report=instruction_report,
        preference_report=preference_report,
    )
