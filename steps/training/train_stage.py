"""One training stage, whichever its kind: the pipeline calls this once per entry of `stages:`."""

from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.training.backends import device_for, resolve_backend
from llm_engineering.application.training.checkpoints import fingerprint, stage_folder
from llm_engineering.application.training.distributed import train_distributed
from llm_engineering.application.training.stages import StageInputs, run_stage
from llm_engineering.domain.config.distributed import DistributedConfig
from llm_engineering.domain.config.training import (
    PREFERENCE_KINDS,
    BaseModelConfig,
    DatasetsConfig,
    StageSpec,
    TrackingConfig,
)
from llm_engineering.domain.training import TrainedStage
from llm_engineering.infrastructure.comet_tracking import comet_report_to, end_comet_experiment
from llm_engineering.infrastructure.zenml.training_materializers import TrainedStageMaterializer
from llm_engineering.settings import get_settings


@step(output_materializers=TrainedStageMaterializer)
def train_stage(
    spec: StageSpec,
    start: TrainedStage | None,
    reward_model: TrainedStage | None,
    teacher: TrainedStage | None,
    instruction_dataset: DatasetDict,
    preference_dataset: DatasetDict | None,
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    backend: str,
    tracking: TrackingConfig,
) -> Annotated[TrainedStage, "trained_stage"]:
    stage = spec.stage
    distributed = stage.distributed
    # Hardware checks run here, on the machine that trains (a GPU step operator's node), before any loading.
    adapter = getattr(stage, "adapter", None)
    # unsloth trains in one process: `auto` picks trl for a distributed stage (validation refuses `unsloth` there).
    chosen = resolve_backend(
        backend if stage.kind == "sft" and not distributed.enabled else "trl",
        adapter.method if adapter is not None else "full",
        {stage.name: stage.optimization.optim},
        attn_implementation=base_model.attn_implementation,
    )
    settings = get_settings()
    split = preference_dataset if stage.kind in PREFERENCE_KINDS else instruction_dataset
    data_key = split["train"]._fingerprint if split is not None else None
    # The start's folder identifies the model it trained (its own key); the artifact's temp path would not.
    # The process count shapes the result (the global batch); the port and timeout do not.
    shaped_by = stage.model_copy(update={"distributed": DistributedConfig()})
    key = fingerprint(str(start.model_dir) if start else "base", base_model, shaped_by, datasets.max_train_samples,
                      data_key, str(reward_model.model_dir) if reward_model else None,
                      *([str(teacher.model_dir)] if teacher else []),
                      *([distributed.num_processes, distributed.strategy] if distributed.enabled else []))  # fmt: skip
    output_dir = stage_folder(settings.path("training"), stage.name, key)
    log_metadata({"output": str(output_dir)})  # now: a stopped run's summary names the checkpoint the rerun resumes
    inputs = StageInputs(
        instruction_dataset=instruction_dataset,
        preference_dataset=preference_dataset,
        base_model=base_model,
        backend=chosen,
        device=device_for(),
        max_train_samples=datasets.max_train_samples,
        report_to=comet_report_to(tracking.comet, settings, f"{stage.name}-{key}"),
        reward_model=reward_model,
        teacher=teacher,
    )
    try:
        trained = (train_distributed if distributed.enabled else run_stage)(stage, start, inputs, output_dir)
    finally:
        end_comet_experiment()
    metrics = {f"{stage.name}_{k}": v for k, v in trained.result.metrics.items()}
    log_metadata({**metrics, "stage": stage.name, "kind": stage.kind, "backend": chosen, "output": str(output_dir),
                  "processes": distributed.num_processes})  # fmt: skip
    return trained
