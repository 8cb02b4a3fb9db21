from pathlib import Path
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.training.backends import device_for, resolve_backend
from llm_engineering.application.training.checkpoints import fingerprint, stage_folder
from llm_engineering.application.training.sft import train_sft
from llm_engineering.domain.config.training import BaseModelConfig, DatasetsConfig, DpoConfig, SftConfig, TrackingConfig
from llm_engineering.infrastructure.comet_tracking import comet_report_to, end_comet_experiment
from llm_engineering.settings import get_settings


@step
def train_sft_model(
    instruction_dataset: DatasetDict,
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    sft: SftConfig,
    dpo: DpoConfig,
    backend: str,
    tracking: TrackingConfig,
) -> tuple[Annotated[Path, "sft_model"], Annotated[dict, "sft_metrics"]]:
    # Hardware checks run here, on the machine that trains (a GPU step operator's node), before any loading.
    chosen = resolve_backend(
        backend,
        sft.adapter.method,
        {"sft": sft.optimization.optim, "dpo": dpo.optimization.optim},
        attn_implementation=base_model.attn_implementation,
    )
    settings = get_settings()
    key = fingerprint(base_model, sft, datasets.max_train_samples, instruction_dataset["train"]._fingerprint)
    output_dir = stage_folder(settings.path("training"), "sft", key)
    try:
        result = train_sft(
            instruction_dataset,
            base_model,
            sft,
            output_dir,
            max_train_samples=datasets.max_train_samples,
            backend=chosen,
            device=device_for(),
            report_to=comet_report_to(tracking.comet, settings, f"sft-{key}"),
        )
    finally:
        end_comet_experiment()
    log_metadata({**{f"sft_{k}": v for k, v in result.metrics.items()}, "backend": chosen, "output": str(output_dir)})
    return result.model_dir, {**result.model_dump(mode="json"), "backend": chosen}
