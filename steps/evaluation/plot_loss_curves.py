from typing import Annotated

from zenml import step

from llm_engineering.application.evaluation.loss_curves import plot_loss_curves as plot
from llm_engineering.domain.training import TrainedStage
from llm_engineering.infrastructure.zenml.training_materializers import LossCurves, LossCurvesMaterializer


@step(output_materializers=LossCurvesMaterializer)
def plot_loss_curves(stages: list[TrainedStage]) -> Annotated[LossCurves, "loss_curves"]:
    histories = {stage.name: stage.result.log_history for stage in stages}
    return LossCurves.from_png(plot(histories), histories)
