"""What a step that is about to fail keeps: ZenML records no outputs for a failed step, so the step saves the data
itself (zenml.save_artifact inside a step links the new version to the step run as an output of that name, failed
or not) and the error names the version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def kept_as_artifact(data: Any, name: str) -> Callable[[], str]:
    """A callable that saves `data` as artifact `name` (with its markdown report in the dashboard) and says where."""

    def keep() -> str:
        from zenml import save_artifact

        from llm_engineering.infrastructure.zenml.materializers import ReportedModelMaterializer

        version = save_artifact(data, name=name, materializer=ReportedModelMaterializer)
        return (
            f"artifact {name}:{version.version} (this step's outputs in the dashboard; "
            f"`zenml artifact version list --name {name}`)"
        )

    return keep
