from typing import Annotated

from zenml import get_step_context, log_metadata, step

from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.application.model_summary import build_model_summary
from llm_engineering.domain.config.training import PromotionConfig
from llm_engineering.domain.model_summary import ExportedModel, ModelVersionSummary, TrainingDatasets
from llm_engineering.infrastructure.model_registry import (
    PromotionDecision,
    decide_promotion,
    production_metric,
    unmet_gates,
)
from llm_engineering.infrastructure.zenml.training_materializers import ModelVersionSummaryMaterializer


# Never cached: compares with whatever is in production now.
@step(enable_cache=False, output_materializers={"model_summary": ModelVersionSummaryMaterializer})
def promote_model(
    evaluation_report: EvaluationReport | None,
    dataset_lineage: TrainingDatasets,
    exported_model: ExportedModel,
    promotion: PromotionConfig,
) -> tuple[Annotated[PromotionDecision, "promotion_decision"], Annotated[ModelVersionSummary, "model_summary"]]:
    """Record metrics and lineage on this run's model version; promote it when it passes the gates and beats
    production. Without an evaluation (evaluation.enabled: false) there is nothing to compare: recorded, not
    promoted. The model version summary is what the open-source dashboard shows of it."""
    context = get_step_context()
    model = context.model
    metrics = evaluation_report.metrics() if evaluation_report is not None else {}
    decision = decide_promotion(
        promotion.metric,
        metrics.get(promotion.metric),
        production_metric(model.name, promotion.metric, promotion.stage),
        promotion.lower_is_better,
        unmet_gates(
            metrics,
            promotion.min_metrics,
            promotion.max_metrics,
            waived=evaluation_report.waived_gates() if evaluation_report is not None else {},
        ),
    )
    # The model version's metadata: what `serve` and the next run's win rate read back (as ExportedModel).
    datasets, exported = dataset_lineage.model_dump(mode="json")["datasets"], exported_model.model_dump(mode="json")
    log_metadata({**metrics, "datasets": datasets, "exported_model": exported, "promotion": decision.reason},
                 infer_model=True)  # fmt: skip
    if decision.promoted:
        model.set_stage(promotion.stage, force=True)
    log_metadata(decision.model_dump())
    stage = model.stage
    summary = build_model_summary(
        model=model.name, version=str(model.version), number=model.number, stage=stage.value if stage else None,
        report=evaluation_report, dataset_lineage=dataset_lineage, exported_model=exported_model, decision=decision,
        target_stage=promotion.stage, run_name=context.pipeline_run.name, run_id=str(context.pipeline_run.id),
    )  # fmt: skip
    return decision, summary
