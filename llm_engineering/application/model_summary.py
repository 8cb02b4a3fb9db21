"""The model version summary: built by the promotion step from what the run measured and decided, rendered as the
markdown the dashboard shows and as lines for `llm-engineering lineage model:<name>`."""

from __future__ import annotations

from llm_engineering.application.evaluation.scores import EvaluationReport, column_label, shown_columns
from llm_engineering.domain.model_summary import (
    EvaluatedModel,
    ExportedModel,
    ModelVersionSummary,
    PromotionOutcome,
    TrainingDatasets,
)
from llm_engineering.infrastructure.model_registry import PromotionDecision


def evaluated_models(report: EvaluationReport | None) -> list[EvaluatedModel]:
    if report is None:
        return []
    return [
        EvaluatedModel(
            model=row.model,
            kind=row.kind,
            metrics={key: float(value) for key, value in row.metric_values().items()},
        )
        for row in report.scores
    ]


def build_model_summary(
    *,
    model: str,
    version: str,
    number: int,
    stage: str | None,
    report: EvaluationReport | None,
    dataset_lineage: TrainingDatasets,
    exported_model: ExportedModel,
    decision: PromotionDecision,
    target_stage: str,
    run_name: str,
    run_id: str,
) -> ModelVersionSummary:
    return ModelVersionSummary(
        model=model,
        version=version,
        number=number,
        stage=stage,
        exported_stage=exported_model.stage,
        evaluated=evaluated_models(report),
        metrics=report.metrics() if report is not None else {},
        datasets=list(dataset_lineage.datasets.values()),
        promotion=PromotionOutcome(target_stage=target_stage, **decision.model_dump()),
        run_name=run_name,
        run_id=run_id,
        export_folder=str(exported_model.folder),
        hub_url=exported_model.hub_url,
    )


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def promotion_line(summary: ModelVersionSummary) -> str:
    outcome = summary.promotion
    verdict = f"promoted to {outcome.target_stage}" if outcome.promoted else "not promoted"
    return f"{verdict}: {outcome.reason}"


def evaluated_line(model: EvaluatedModel) -> str:
    metrics = ", ".join(f"{column_label(key)} {_value(value)}" for key, value in model.metrics.items())
    return f"{model.model} ({model.kind}): {metrics or 'no metrics'}"


def render_markdown(summary: ModelVersionSummary) -> str:
    """The dashboard's view of the model version: what `lineage model:<name>` prints, as tables."""
    stage = f"stage **{summary.stage}**" if summary.stage else "no stage"
    outcome = summary.promotion
    lines = [
        f"# Model `{summary.model}` version {summary.version} (#{summary.number})",
        "",
        f"{stage} · {'promoted' if outcome.promoted else 'not promoted'} · exported stage `{summary.exported_stage}` · "
        f"run `{summary.run_name}`",
        "",
        "## Promotion",
        "",
        "| promoted | to stage | metric | this version | production before |",
        "|---|---|---|---|---|",
        f"| {'yes' if outcome.promoted else 'no'} | {outcome.target_stage} | {outcome.metric} | "
        f"{_value(outcome.candidate)} | {_value(outcome.production)} |",
        "",
        f"Reason: {outcome.reason}",
    ]
    if summary.evaluated:
        shown = shown_columns([model.metrics for model in summary.evaluated])
        lines += [
            "",
            "## Evaluation",
            "",
            "| model | " + " | ".join(column_label(key) for key in shown) + " |",
            "|---|" + "---|" * len(shown),
        ]
        for model in summary.evaluated:
            cells = [_value(model.metrics.get(key)) for key in shown]
            lines.append(f"| {model.model} ({model.kind}) | " + " | ".join(cells) + " |")
    else:
        lines += ["", "No evaluation ran (evaluation.enabled: false)."]
    lines += ["", "## Trained on", "", "| dataset | version | artifact version id or folder |", "|---|---|---|"]
    lines += [f"| {d.name} | {d.version or '—'} | `{d.artifact_id or d.path}` |" for d in summary.datasets]
    lines += ["", "## Run and export", "", f"- run `{summary.run_name}` (id `{summary.run_id}`)"]
    if summary.export_folder:
        lines.append(f"- exported to `{summary.export_folder}`")
    if summary.hub_url:
        lines.append(f"- pushed to {summary.hub_url}")
    return "\n".join(lines) + "\n"
