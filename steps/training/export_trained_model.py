from pathlib import Path
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.application.export import DatasetLineage, ModelCard, export_model
from llm_engineering.application.lineage import artifact_version_lineage
from llm_engineering.application.lineage_rendering import lineage_markdown
from llm_engineering.domain.config.training import BaseModelConfig, DpoConfig, ExportConfig, HubConfig, SftConfig
from llm_engineering.infrastructure.causal_lm import read_training_info
from llm_engineering.infrastructure.hub import push_folder
from llm_engineering.settings import get_settings


@step(enable_cache=False)  # writes outside ZenML (exports folder, hub): always redo
def export_trained_model(
    final_model: Path,
    evaluation_report: EvaluationReport,
    dataset_lineage: dict,
    base_model: BaseModelConfig,
    sft: SftConfig,
    dpo: DpoConfig,
    export: ExportConfig,
    hub: HubConfig,
) -> Annotated[dict, "exported_model"]:
    """The folder stays on disk (a merged model is big); the artifact records where it is and what it holds."""
    context = get_step_context()
    settings = get_settings()
    model_name = context.model.name if context.pipeline_run.model_version else "llm-engineering"
    target = export.folder or settings.path("exports", model_name)
    info = read_training_info(final_model)
    merged = info.is_adapter and sft.adapter.merge_for_export and info.method in ("lora", "qlora", "dora", "ia3")
    datasets = [DatasetLineage.model_validate(item) for item in dataset_lineage.values()]
    chains = [
        lineage_markdown(artifact_version_lineage(d.artifact_id, max_sources=20)) for d in datasets if d.artifact_id
    ]
    card = ModelCard(
        title=model_name,
        base_model=base_model.name,
        method=info.method,
        stage=info.stage,
        datasets=datasets,
        lineage="\n\n".join(chains),
        metrics=evaluation_report.metrics(),
        config={"sft": sft.model_dump(mode="json"), "dpo": dpo.model_dump(mode="json") if dpo.enabled else None},
        run_id=str(context.pipeline_run.id),
        merged=merged,
    )
    folder = export_model(final_model, Path(target), sft.adapter.merge_for_export, card)
    hub_url = None
    if hub.model_repo and settings.hf_token is not None:
        hub_url = push_folder(folder, hub.model_repo, settings.hf_token, hub.private, f"run {context.pipeline_run.id}")
    record = {"folder": str(folder), "merged": merged, "stage": info.stage, "hub_url": hub_url}
    log_metadata(record)
    return record
