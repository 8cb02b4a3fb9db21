from typing import Annotated

from zenml import get_step_context, log_metadata, step

from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.domain.config.training import PromotionConfig
from llm_engineering.infrastructure.model_registry import decide_promotion, production_metric, unmet_gates


@step(enable_cache=False)  # compares with whatever is in production now
def promote_model(
    evaluation_report: EvaluationReport | None,
    dataset_lineage: dict,
    exported_model: dict,
    promotion: PromotionConfig,
) -> Annotated[dict, "promotion_decision"]:
    """Record metrics and lineage on this run's model version; promote it when it passes the gates and beats
    production. Without an evaluation (evaluation.enabled: false) there is nothing to compare: recorded, not
    promoted."""
    model = get_step_context().model
    metrics = evaluation_report.metrics() if evaluation_report is not None else {}
    decision = decide_promotion(
        promotion.metric,
        metrics.get(promotion.metric),
        production_metric(model.name, promotion.metric, promotion.stage),
        promotion.lower_is_better,
        unmet_gates(metrics, promotion.min_metrics, promotion.max_metrics),
    )
    log_metadata(
        {**metrics, "datasets": dataset_lineage, "exported_model": exported_model, "promotion": decision.reason},
        infer_model=True,
    )
    if decision.promoted:
        model.set_stage(promotion.stage, force=True)
    log_metadata(decision.model_dump())
    return decision.model_dump()
