"""The feature pipeline's last step: the new versions of both datasets, their report, the
contaminated samples; JSONL export and Hub push when configured."""

from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import get_step_context, log_metadata, step
from zenml.types import HTMLString

from llm_engineering.application.dataset_publication import dataset_card, export_jsonl, push_to_hub
from llm_engineering.application.dataset_report import render_dataset_report, render_page
from llm_engineering.application.dataset_versions import next_versions
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.samples import CuratedInstructions, CuratedPreferences, RemovedSamples
from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer
from llm_engineering.settings import get_settings


@step(output_materializers={"contaminated_samples": ReportedModelMaterializer})
def publish_datasets(
    curated_instructions: CuratedInstructions,
    curated_preferences: CuratedPreferences,
    datasets: DatasetGenerationConfig,
    previous_instruction_dataset: DatasetDict | None = None,
    previous_preference_dataset: DatasetDict | None = None,
) -> tuple[
    Annotated[DatasetDict, "instruction_dataset"],
    Annotated[DatasetDict, "preference_dataset"],
    Annotated[RemovedSamples, "contaminated_samples"],
    Annotated[HTMLString, "dataset_report"],
]:
    versions = next_versions(
        curated_instructions, curated_preferences, datasets.split, previous_instruction_dataset,
        previous_preference_dataset,
    )  # fmt: skip
    contaminated = RemovedSamples(
        samples=[
            r
            for r in curated_instructions.removed + curated_preferences.removed
            if r.stage.startswith("decontamination")
        ]
    )
    run_name = get_step_context().pipeline_run.name
    published: dict[str, str] = {}
    for name, dataset, report in (
        ("instruction_dataset", versions.instruction, versions.instruction_report),
        ("preference_dataset", versions.preference, versions.preference_report),
    ):
        log_metadata(
            {
                "train": len(dataset["train"]),
                "test": len(dataset["test"]),
                "new_samples": report.new_samples,
                "previous_version_samples": report.previous_version_samples,
                "stages": [f"{s.stage}: {s.samples_in} -> {s.samples_out}" for s in report.stages],
            },
            artifact_name=name,
            infer_artifact=True,
        )
        if datasets.export_jsonl_dir is not None:
            paths = export_jsonl(dataset, datasets.export_jsonl_dir, name)
            published[f"{name}_jsonl"] = ", ".join(str(p) for p in paths)
        token = get_settings().hf_token
        if datasets.hub.dataset_repo and token is None:
            published[f"{name}_hub"] = "not pushed: hub.dataset_repo is set but HF_TOKEN is not"
        elif datasets.hub.dataset_repo and token is not None:
            repo = f"{datasets.hub.dataset_repo}-{name.split('_')[0]}"
            published[f"{name}_hub"] = push_to_hub(
                dataset, repo, token.get_secret_value(), datasets.hub.private, dataset_card(name, report, run_name)
            )
    log_metadata({"contaminated_samples": len(contaminated.samples), **published})
    html = render_page(
        [
            render_dataset_report(versions.instruction_report, versions.instruction, "instruction"),
            render_dataset_report(versions.preference_report, versions.preference, "preference"),
        ]
    )
    return versions.instruction, versions.preference, contaminated, HTMLString(html)
