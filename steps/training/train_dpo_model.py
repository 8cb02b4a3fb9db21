from pathlib import Path
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.training.backends import check_attention, device_for
from llm_engineering.application.training.checkpoints import fingerprint, stage_folder
from llm_engineering.application.training.dpo import train_dpo
from llm_engineering.domain.config.training import BaseModelConfig, DatasetsConfig, DpoConfig, TrackingConfig
from llm_engineering.infrastructure.comet_tracking import comet_report_to, end_comet_experiment
from llm_engineering.settings import get_settings


@step
def train_dpo_model(
    sft_model: Path,
    sft_metrics: dict,
    preference_dataset: DatasetDict,
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    dpo: DpoConfig,
    tracking: TrackingConfig,
) -> tuple[Annotated[Path, "dpo_model"], Annotated[dict, "dpo_metrics"]]:
    check_attention(base_model.attn_implementation)  # on the machine that runs this step
    settings = get_settings()
    # The SFT output folder's key identifies the SFT result; the artifact's temp path would not.
    key = fingerprint(sft_metrics["model_dir"], base_model, dpo, preference_dataset["train"]._fingerprint)
    output_dir = stage_folder(settings.path("training"), "dpo", key)
    try:
        result = train_dpo(
            sft_model,
            preference_dataset,
            base_model,
            dpo,
            output_dir,
            max_train_samples=datasets.max_train_samples,
            device=device_for(),
            report_to=comet_report_to(tracking.comet, settings, f"dpo-{key}"),
        )
    finally:
        end_comet_experiment()
    log_metadata({**{f"dpo_{k}": v for k, v in result.metrics.items()}, "output_dir": str(output_dir)})
    return result.model_dir, result.model_dump(mode="json")
