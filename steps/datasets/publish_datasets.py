"""The feature pipeline's last step: the new versions of both datasets (only when they have new samples, each with
its curation report as its dashboard visualization), the run's report of both (also when nothing new was published),
the contaminated samples; JSONL export and Hub push when configured."""

from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import get_step_context, log_metadata, save_artifact, step
from zenml.types import HTMLString

from llm_engineering.application.dataset_publication import dataset_card, export_jsonl, push_to_hub
from llm_engineering.application.dataset_report import render_dataset_report, render_page
from llm_engineering.application.dataset_versions import next_versions
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.exploration import ReviewVerdicts
from llm_engineering.domain.samples import (
    CuratedInstructions,
    CuratedPreferences,
    CurationReport,
    DatasetPublication,
    PublishedDataset,
    RemovedSamples,
)
from llm_engineering.infrastructure.zenml.dataset_materializer import DatasetVersionMaterializer, reporting
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer
from llm_engineering.settings import get_settings


def _publish(
    name: str, dataset: DatasetDict, report: CurationReport, previous: DatasetDict | None,
    datasets: DatasetGenerationConfig, run_name: str,
) -> PublishedDataset:  # fmt: skip
    counts = {"train": len(dataset["train"]), "test": len(dataset["test"]), "new_samples": report.new_samples,
              "previous_version_samples": report.previous_version_samples}  # fmt: skip
    if report.new_samples == 0 and report.reviewed_out == 0:
        # Nothing new and nothing a reviewer rejected: the latest version already is this one (or there is none).
        return PublishedDataset(name=name, status="unchanged" if previous is not None else "empty", **counts)
    # Beside what the materializer records (rows per split, columns): where the rows came from.
    metadata = {"new_samples": report.new_samples, "previous_version_samples": report.previous_version_samples,
                "stages": [f"{s.stage}: {s.samples_in} -> {s.samples_out}" for s in report.stages],
                "reviewed_out": report.reviewed_out}  # fmt: skip
    # Saved from inside the step, so it is this step's output (lineage) and exists only when there is something new;
    # its visualization is the version's curation report and first rows.
    with reporting(report):
        version = save_artifact(dataset, name, materializer=DatasetVersionMaterializer, user_metadata=metadata)
    destinations: dict[str, str] = {}
    if datasets.export_jsonl_dir is not None:
        destinations["jsonl"] = ", ".join(str(p) for p in export_jsonl(dataset, datasets.export_jsonl_dir, name))
    token = get_settings().hf_token
    if datasets.hub.dataset_repo and token is None:
        destinations["hub"] = "not pushed: hub.dataset_repo is set but HF_TOKEN is not"
    elif datasets.hub.dataset_repo and token is not None:
        repo = f"{datasets.hub.dataset_repo}-{name.split('_')[0]}"
        destinations["hub"] = push_to_hub(
            dataset, repo, token.get_secret_value(), datasets.hub.private, dataset_card(name, report, run_name)
        )
    return PublishedDataset(name=name, status="published", version=str(version.version), destinations=destinations,
                            **counts)  # fmt: skip


@step(
    output_materializers={
        "dataset_publication": ReportedModelMaterializer,
        "contaminated_samples": ReportedModelMaterializer,
    }
)
def publish_datasets(
    curated_instructions: CuratedInstructions,
    curated_preferences: CuratedPreferences,
    datasets: DatasetGenerationConfig,
    previous_instruction_dataset: DatasetDict | None = None,
    previous_preference_dataset: DatasetDict | None = None,
    review_verdicts: ReviewVerdicts | None = None,
) -> tuple[
    Annotated[DatasetPublication, "dataset_publication"],
    Annotated[RemovedSamples, "contaminated_samples"],
    Annotated[HTMLString, "dataset_report"],
]:
    versions = next_versions(
        curated_instructions, curated_preferences, datasets.split, previous_instruction_dataset,
        previous_preference_dataset, review_verdicts,
    )  # fmt: skip
    contaminated = RemovedSamples(
        samples=[
            r
            for r in curated_instructions.removed + curated_preferences.removed
            if r.stage.startswith("decontamination")
        ]
    )
    run_name = get_step_context().pipeline_run.name
    publication = DatasetPublication(
        datasets=[
            _publish(
                "instruction_dataset",
                versions.instruction,
                versions.instruction_report,
                previous_instruction_dataset,
                datasets,
                run_name,
            ),
            _publish(
                "preference_dataset",
                versions.preference,
                versions.preference_report,
                previous_preference_dataset,
                datasets,
                run_name,
            ),
        ]  # fmt: skip
    )
    log_metadata(
        {
            "contaminated_samples": len(contaminated.samples),
            "reviewed_out": len(versions.reviewed_out),
            "published": publication.describe(),
            **{f"{d.name}_{k}": v for d in publication.datasets for k, v in d.destinations.items()},
        }
    )
    html = render_page(
        [
            render_dataset_report(versions.instruction_report, versions.instruction, "instruction"),
            render_dataset_report(versions.preference_report, versions.preference, "preference"),
        ]
    )
    return publication, contaminated, HTMLString(html)
