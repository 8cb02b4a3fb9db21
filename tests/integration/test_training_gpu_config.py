"""configs/training-gpu.yaml: the training and evaluation steps get the step operator, GPU resources and image."""

from __future__ import annotations

import copy
from pathlib import Path

from tests.integration.conftest import make_instruction_dataset, make_preference_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_gpu_config_carries_step_operator_resources_and_image() -> None:
    import zenml
    import zenml.integrations.huggingface.materializers  # noqa: F401
    from zenml.config.compiler import Compiler
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    from llm_engineering.application.pipeline_runner import load_for, pipeline_arguments
    from pipelines.training import training

    zenml.save_artifact(make_instruction_dataset(2, 1), name="instruction_dataset")
    zenml.save_artifact(make_preference_dataset(2, 1), name="preference_dataset")
    loaded = load_for("training", PROJECT_ROOT / "configs" / "training-gpu.yaml")
    run_config = PipelineRunConfiguration.model_validate(loaded.zenml)
    pipeline = training.copy()
    pipeline.prepare(**pipeline_arguments(loaded.parameters))
    Compiler()._apply_run_configuration(pipeline=pipeline, config=run_config)  # pipeline-level settings

    assert pipeline.configuration.settings["docker"].parent_image == "llm-engineering-gpu:latest"
    assert set(run_config.steps) == {"train_sft", "train_dpo", "evaluate_models"}
    for name, step_config in run_config.steps.items():
        # What the compiler does per invocation; a full compile also needs a `kubernetes` step operator in the stack.
        step = copy.deepcopy(pipeline.invocations[name].step)
        step._apply_configuration(step_config)
        assert step.configuration.step_operator == "kubernetes"
        resources = step.configuration.settings["resources"]
        assert resources.gpu_count == 1 and resources.memory
    assert loaded.parameters.first_sft.adapter.method == "qlora"
    assert (PROJECT_ROOT / "docker" / "Dockerfile.gpu").read_text().count(".[gpu]") == 1
