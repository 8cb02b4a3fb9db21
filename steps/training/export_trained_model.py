import logging
from pathlib import Path
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.application.export import ModelCard, StageSummary, export_model, merges
from llm_engineering.application.lineage import artifact_version_lineage
from llm_engineering.application.lineage_rendering import lineage_markdown
from llm_engineering.domain.config.training import BaseModelConfig, ExportConfig, HubConfig, StagePlan
from llm_engineering.domain.model_summary import ExportedModel, TrainingDatasets
from llm_engineering.domain.training import TrainedStage
from llm_engineering.infrastructure.causal_lm import read_training_info
from llm_engineering.infrastructure.export_folders import prune_export_folders, staged_export_folders, version_folder
from llm_engineering.infrastructure.hub import push_folder
from llm_engineering.settings import get_settings

logger = logging.getLogger(__name__)


@step(enable_cache=False)  # writes outside ZenML (exports folder, hub): always redo
def export_trained_model(
    final: TrainedStage,
    stages: list[TrainedStage],
    evaluation_report: EvaluationReport | None,
    dataset_lineage: TrainingDatasets,
    base_model: BaseModelConfig,
    plan: StagePlan,
    export: ExportConfig,
    hub: HubConfig,
) -> Annotated[ExportedModel, "exported_model"]:
    """The final policy stage's model. The folder stays on disk (a merged model is big); the artifact records where
    it is and what it holds."""
    context = get_step_context()
    settings = get_settings()
    run = context.pipeline_run
    model_name = context.model.name if run.model_version else "llm-engineering"
    root = settings.path("exports", model_name)
    number = run.model_version.number if run.model_version else None
    target = export.folder or version_folder(root, number, str(run.id))
    info = read_training_info(final.model_dir)
    adapter = plan.adapter_of(final.name)
    merge_for_export = adapter is None or adapter.merge_for_export
    datasets = list(dataset_lineage.datasets.values())
    chains = [
        lineage_markdown(artifact_version_lineage(d.artifact_id, max_sources=20)) for d in datasets if d.artifact_id
    ]
    card = ModelCard(
        title=model_name,
        base_model=base_model.name,
        method=info.method,
        stage=final.name,
        stages=[
            StageSummary(name=s.name, kind=s.kind, started_from=s.started_from, metrics=s.result.metrics)
            for s in stages
        ],  # fmt: skip
        datasets=datasets,
        lineage="\n\n".join(chains),
        metrics=evaluation_report.metrics() if evaluation_report is not None else {},
        config={"stages": [stage.model_dump(mode="json") for stage in plan.stages]},
        run_id=str(run.id),
        merged=merges(info, merge_for_export),
    )
    folder, card = export_model(final.model_dir, Path(target), merge_for_export, card, export.gguf)
    if export.folder is None:
        removed = prune_export_folders(root, export.keep, protected=staged_export_folders(model_name) | {folder})
        if removed:
            logger.info("export.keep %d: removed the older export folders %s", export.keep, [str(p) for p in removed])
    hub_url = None
    if hub.model_repo and settings.hf_token is not None:
        hub_url = push_folder(folder, hub.model_repo, settings.hf_token, hub.private, f"run {run.id}")
    exported = ExportedModel(folder=folder, merged=card.merged, stage=final.name, hub_url=hub_url, gguf=card.gguf)
    log_metadata(exported.model_dump(mode="json"))
    return exported
