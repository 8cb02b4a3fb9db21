from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.evaluation.comparison import evaluate_models as evaluate
from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.application.judging.jury import Jury
from llm_engineering.application.training.backends import check_attention, device_for
from llm_engineering.domain.config.training import BaseModelConfig, EvaluationConfig, StagePlan
from llm_engineering.domain.training import TrainedStage
from llm_engineering.domain.win_rate import WinRateOpponents
from llm_engineering.infrastructure.zenml.training_materializers import EvaluationReportMaterializer


@step(output_materializers=EvaluationReportMaterializer)
def evaluate_models(
    stages: list[TrainedStage],
    plan: StagePlan,
    instruction_dataset: DatasetDict,
    preference_dataset: DatasetDict | None,
    base_model: BaseModelConfig,
    evaluation: EvaluationConfig,
    opponents: WinRateOpponents,
) -> Annotated[EvaluationReport, "evaluation_report"]:
    """The base model and every stage that ran, side by side; the final model's win rates against `opponents` (the
    production model, found when the pipeline starts, so a new production version is a new cache key)."""
    check_attention(base_model.attn_implementation)  # on the machine that runs this step
    jury_config = evaluation.judge.jury_config()
    jury = Jury(jury_config, device=device_for()) if jury_config is not None else None
    report = evaluate(
        stages, plan, instruction_dataset, preference_dataset, base_model, evaluation, device=device_for(), jury=jury,
        opponents=opponents,
    )  # fmt: skip
    skipped = {result.metric: result.skipped for result in report.win_rates if result.skipped is not None}
    log_metadata({**report.metrics(), **({"win_rate_skipped": skipped} if skipped else {})})
    log_metadata(report.metrics(), infer_model=True)
    return report
