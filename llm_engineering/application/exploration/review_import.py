"""`llm-engineering review import FILE`: a reviewed CSV -> verdicts recorded on the dataset version it was drawn
from (artifact metadata, shown in the dashboard) and in the `review_verdicts` artifact, which the next feature run
reads to leave the rejected samples out of the next version of their dataset.

`review_verdicts` holds every verdict imported so far (a sample's later verdict replaces its earlier one), so
importing the same file twice adds nothing, and a rejected sample stays out of every later version."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llm_engineering.application.exploration.review import ReviewFileError, read_review
from llm_engineering.domain.exploration import ReviewVerdict, ReviewVerdicts

VERDICTS_ARTIFACT = "review_verdicts"


class UnknownDatasetVersion(LookupError):
    """The artifact or version does not exist; the message names it and the versions there are."""


class ReviewedVersion(BaseModel):
    dataset: str
    version: str
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int] = {}


class ReviewImport(BaseModel):
    file: str
    versions: list[ReviewedVersion]
    verdicts_version: str | None = None  # the review_verdicts version holding them all
    new_verdicts: int = 0  # verdicts not recorded before (0: the file was imported already)


def dataset_version(name: str, version: str | None = None) -> Any:
    """The artifact version (latest when `version` is None), or UnknownDatasetVersion naming what there is."""
    from zenml.client import Client

    client = Client()
    versions = client.list_artifact_versions(artifact=name, sort_by="desc:created", size=20).items
    if not versions:
        raise UnknownDatasetVersion(f"no artifact named {name!r} (a feature run publishes instruction_dataset and "
                                    "preference_dataset)")  # fmt: skip
    if version is None:
        return versions[0]
    try:
        return client.get_artifact_version(name, str(version))
    except KeyError:
        latest = ", ".join(str(v.version) for v in versions)
        raise UnknownDatasetVersion(f"{name} has no version {version!r} (its latest versions: {latest})") from None


def latest_verdicts() -> ReviewVerdicts:
    from llm_engineering.infrastructure.zenml.artifacts import find_artifact_version

    stored = find_artifact_version(VERDICTS_ARTIFACT)
    return stored.load() if stored is not None else ReviewVerdicts()


def import_review(path: Path) -> ReviewImport:
    from zenml import log_metadata, save_artifact

    verdicts = read_review(path)
    if not verdicts:
        raise ReviewFileError(f"{path}: no row has a verdict: write accept or reject in the verdict column")
    groups: dict[tuple[str, str], list[ReviewVerdict]] = {}
    for verdict in verdicts:
        groups.setdefault((verdict.dataset, verdict.version), []).append(verdict)
    reviewed = []
    for (name, version), given in groups.items():
        artifact = dataset_version(name, version)
        dataset = artifact.load()
        ids = {sample_id for split in dataset for sample_id in dataset[split]["sample_id"]}
        unknown = [v.sample_id for v in given if v.sample_id not in ids]
        if unknown:
            raise ReviewFileError(f"{path}: {len(unknown)} sample(s) not in {name} version {version}: "
                                  f"{', '.join(unknown[:5])}; review the CSV drawn from that version")  # fmt: skip
        rejected = {v.sample_id: v.reason for v in given if v.verdict == "reject"}
        entry = ReviewedVersion(dataset=name, version=version, accepted=len(given) - len(rejected),
                                rejected=len(rejected), rejected_by_reason=Counter(rejected.values()))  # fmt: skip
        log_metadata(
            {"review": {"file": str(path), "accepted": entry.accepted, "rejected": entry.rejected},
             "review_rejected": rejected},
            artifact_version_id=artifact.id,
        )  # fmt: skip
        reviewed.append(entry)
    previous = latest_verdicts()
    merged = previous.merged(verdicts)
    result = ReviewImport(file=str(path), versions=reviewed)
    if merged == previous:  # imported before: no new version, the next run removes nothing twice
        from llm_engineering.infrastructure.zenml.artifacts import find_artifact_version

        stored = find_artifact_version(VERDICTS_ARTIFACT)
        result.verdicts_version = str(stored.version) if stored is not None else None
        return result
    before = {(v.dataset, v.sample_id): v for v in previous.verdicts}
    result.new_verdicts = sum(before.get((v.dataset, v.sample_id)) != v for v in merged.verdicts)
    saved = save_artifact(
        merged, VERDICTS_ARTIFACT, user_metadata={"file": str(path), "verdicts": len(merged.verdicts)}
    )
    result.verdicts_version = str(saved.version)
    return result
