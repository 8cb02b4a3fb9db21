from typing import Annotated

from zenml import step

from llm_engineering.application.evaluation.loss_curves import plot_loss_curves as plot
from llm_engineering.infrastructure.zenml.training_materializers import LossCurves, LossCurvesMaterializer


@step(output_materializers=LossCurvesMaterializer)
def plot_loss_curves(sft_metrics: dict, dpo_metrics: dict | None) -> Annotated[LossCurves, "loss_curves"]:
    histories = {"sft": sft_metrics["log_history"], "dpo": (dpo_metrics or {}).get("log_history", [])}
    return LossCurves.from_png(plot(histories), histories)
