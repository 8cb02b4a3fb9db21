from zenml import Model, get_pipeline_context, pipeline

from llm_engineering.domain.config.training import (
    BaseModelConfig,
    DatasetInput,
    DatasetsConfig,
    EvaluationConfig,
    ExportConfig,
    HubConfig,
    PromotionConfig,
    StagePlan,
    StageSpec,
    TrackingConfig,
    TrainingStage,
)
from llm_engineering.domain.win_rate import WinRateOpponents
from llm_engineering.infrastructure.production_model import find_production_model
from llm_engineering.infrastructure.zenml.artifacts import (
    PIN_ANOTHER_TRAINING_DATASET,
    check_dataset_version,
    find_artifact_version,
)
from steps.evaluation.evaluate_models import evaluate_models
from steps.evaluation.plot_loss_curves import plot_loss_curves
from steps.training.export_trained_model import export_trained_model
from steps.training.load_local_dataset import load_local_instruction_dataset, load_local_preference_dataset
from steps.training.promote_model import promote_model
from steps.training.train_stage import train_stage
from steps.training.validate_training_inputs import validate_training_inputs


def _dataset(source: DatasetInput, name: str):  # noqa: ANN202 - an artifact version or a step output
    """A pinned/latest ZenML artifact version (linked as the step's input), or a local folder loaded by a step."""
    if source.path is not None and name == "instruction_dataset":
        return load_local_instruction_dataset(str(source.path), id=f"load_{name}")
    if source.path is not None:
        return load_local_preference_dataset(str(source.path), id=f"load_{name}")
    artifact_version = find_artifact_version(source.artifact, source.version)
    if artifact_version is None:
        wanted = f"{source.artifact!r}" + (f" version {source.version}" if source.version else "")
        raise ValueError(
            f"no dataset artifact {wanted} in this ZenML store: run `make run-feature-pipeline` first, "
            f"or point datasets.{name.split('_')[0]}.path at a saved dataset"
        )
    check_dataset_version(artifact_version, PIN_ANOTHER_TRAINING_DATASET)  # a bad version fails here, named
    return artifact_version


@pipeline(model=Model(name="llm-engineering-assistant", description="the training stages on the feature datasets"))
def training(
    datasets: DatasetsConfig,
    base_model: BaseModelConfig,
    backend: str,
    stages: list[TrainingStage],
    evaluation: EvaluationConfig,
    promotion: PromotionConfig,
    export: ExportConfig,
    hub: HubConfig,
    tracking: TrackingConfig,
) -> None:
    plan = StagePlan(stages=stages)
    instruction_dataset = _dataset(datasets.instruction, "instruction_dataset")
    preference_dataset = _dataset(datasets.preference, "preference_dataset") if datasets.preference else None
    lineage = validate_training_inputs(instruction_dataset, preference_dataset, datasets, base_model, plan)
    trained: dict = {}
    reward_model = None  # the latest reward_model stage: what a `reward_model` reward scores with
    for stage, start in zip(stages, plan.starts().values(), strict=True):
        teacher = trained.get(stage.teacher.stage) if stage.kind == "distill" else None  # an earlier stage, or None
        trained[stage.name] = train_stage(
            StageSpec(stage=stage), trained.get(start), reward_model, teacher, instruction_dataset, preference_dataset,
            datasets, base_model, backend, tracking, id=StagePlan.step_id(stage), after=[lineage],
        )  # fmt: skip
        if stage.kind == "reward_model":
            reward_model = trained[stage.name]
    results = list(trained.values())
    plot_loss_curves(results)
    opponents = WinRateOpponents()
    if evaluation.enabled and evaluation.win_rate.enabled and "production" in evaluation.win_rate.against:
        opponents = find_production_model(get_pipeline_context().model.name, promotion.stage)  # before this run
    report = (
        evaluate_models(results, plan, instruction_dataset, preference_dataset, base_model, evaluation, opponents)
        if evaluation.enabled
        else None
    )
    final = trained[plan.final_policy()]
    exported = export_trained_model(final, results, report, lineage, base_model, plan, export, hub)
    promote_model(report, lineage, exported, promotion)
