from pathlib import Path
from typing import Annotated

import zenml.integrations.huggingface.materializers  # noqa: F401 - registers the DatasetDict materializer
from datasets import DatasetDict
from zenml import log_metadata, step

from llm_engineering.application.evaluation.comparison import evaluate_models as evaluate
from llm_engineering.application.evaluation.scores import EvaluationReport
from llm_engineering.application.training.backends import check_attention, device_for
from llm_engineering.domain.config.training import BaseModelConfig, DpoConfig, EvaluationConfig, SftConfig
from llm_engineering.infrastructure.zenml.training_materializers import EvaluationReportMaterializer


@step(output_materializers=EvaluationReportMaterializer)
def evaluate_models(
    sft_model: Path,
    dpo_model: Path | None,
    instruction_dataset: DatasetDict,
    preference_dataset: DatasetDict,
    base_model: BaseModelConfig,
    evaluation: EvaluationConfig,
    sft: SftConfig,
    dpo: DpoConfig,
) -> Annotated[EvaluationReport, "evaluation_report"]:
    check_attention(base_model.attn_implementation)  # on the machine that runs this step
    judge = None
    if evaluation.judge.base_url:
        from llm_engineering.infrastructure.judge_client import judge_provider_for

        judge = judge_provider_for(evaluation.judge.base_url, evaluation.judge.model)
    report = evaluate(
        {"sft": sft_model, "dpo": dpo_model},
        instruction_dataset,
        preference_dataset,
        base_model,
        evaluation,
        sft_max_length=sft.max_length,
        dpo_max_length=dpo.max_length,
        beta=dpo.beta,
        device=device_for(),
        judge=judge,
    )
    log_metadata(report.metrics())
    log_metadata(report.metrics(), infer_model=True)
    return report
