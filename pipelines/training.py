from zenml import Model, pipeline

from llm_engineering.domain.config.training import (
    BaseModelConfig,
    DatasetInput,
    DatasetsConfig,
    DpoConfig,
    EvaluationConfig,
    ExportConfig,
    HubConfig,
    PromotionConfig,
    SftConfig,
    TrackingConfig,
)
from llm_engineering.infrastructure.zenml.artifacts import (
    PIN_ANOTHER_TRAINING_DATASET,
    check_dataset_version,
    find_artifact_version,
)
from steps.evaluation.evaluate_models import evaluate_models
from steps.evaluation.plot_loss_curves import plot_loss_curves
from steps.training.export_trained_model import export_trained_model
from steps.training.load_local_dataset import load_local_dataset
from steps.training.promote_model import promote_model
from steps.training.train_dpo_model import train_dpo_model
from steps.training.train_sft_model import train_sft_model
from steps.training.validate_training_inputs import validate_training_inputs


def _dataset(source: DatasetInput, name: str):  # noqa: ANN202 - an artifact version or a step output
    """A pinned/latest ZenML artifact version (linked as the step's input), or a local folder loaded by a step."""
    if source.path is not None:
        return load_local_dataset(str(source.path), id=f"load_{name}")
    artifact_version = find_artifact_version(source.artifact, source.version)
    if artifact_version is None:
        wanted = f"{source.artifact!r}" + (f" version {source.version}" if source.version else "")
        raise ValueError(
            f"no dataset artifact {wanted} in this ZenML store: run `make run-feature-pipeline` first, "
            f"or point datasets.{name.split('_')[0]}.path at a saved dataset"
        )
    check_dataset_version(artifact_version, PIN_ANOTHER_TRAINING_DATASET)  # a bad version fails here, named
    return artifact_version


@pipeline(model=Model(name="llm-engineering-assistant", description="SFT + DPO on the feature pipeline's datasets"))
def training(
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    backend: str,
    sft: SftConfig,
    dpo: DpoConfig,
    evaluation: EvaluationConfig,
    promotion: PromotionConfig,
    export: ExportConfig,
    hub: HubConfig,
    tracking: TrackingConfig,
) -> None:
    instruction_dataset = _dataset(datasets.instruction, "instruction_dataset")
    preference_dataset = _dataset(datasets.preference, "preference_dataset")
    lineage = validate_training_inputs(instruction_dataset, preference_dataset, datasets, base_model, sft, dpo)
    sft_model, sft_metrics = train_sft_model(
        instruction_dataset, datasets, base_model, sft, dpo, backend, tracking, after=[lineage]
    )
    dpo_model, dpo_metrics = None, None
    if dpo.enabled:
        dpo_model, dpo_metrics = train_dpo_model(
            sft_model, sft_metrics, preference_dataset, datasets, base_model, dpo, tracking
        )
    plot_loss_curves(sft_metrics, dpo_metrics)
    report = evaluate_models(
        sft_model, dpo_model, instruction_dataset, preference_dataset, base_model, evaluation, sft, dpo
    )
    exported = export_trained_model(
        dpo_model if dpo.enabled else sft_model, report, lineage, base_model, sft, dpo, export, hub
    )
    promote_model(report, lineage, exported, promotion)
