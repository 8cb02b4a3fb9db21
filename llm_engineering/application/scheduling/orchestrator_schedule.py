"""The same `schedule:` block as a ZenML `Schedule`, for orchestrators that run schedules themselves.

Kubernetes, Airflow, Vertex, SageMaker (and other `is_schedulable` flavors) fire the pipeline on the cron
or interval; they do not check sources first, so each firing is a full run whose unchanged documents the
feature pipeline's own incremental steps skip cheaply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from zenml.config.schedule import Schedule

from llm_engineering.application.pipeline_runner import run_pipeline
from llm_engineering.application.run_config import LoadedRunConfig
from llm_engineering.application.scheduling.schedule_config import LoadedSchedule
from llm_engineering.domain.config.schedule import ScheduleTiming


class SchedulingUnsupported(RuntimeError):
    pass


def build_zenml_schedule(timing: ScheduleTiming, name: str | None = None, start: datetime | None = None) -> Schedule:
    if timing.cron is not None:
        return Schedule(name=name, cron_expression=timing.cron)
    assert timing.interval_seconds is not None
    # ZenML's periodic schedules need a start time as well as the interval.
    return Schedule(
        name=name,
        start_time=start or datetime.now().astimezone(),
        interval_second=timedelta(seconds=timing.interval_seconds),
    )


def check_orchestrator_can_schedule() -> str:
    """Returns the active orchestrator's flavor; raises with what to do instead when it cannot schedule."""
    from zenml.client import Client

    stack = Client().active_stack
    orchestrator = stack.orchestrator
    if not orchestrator.config.is_schedulable:
        raise SchedulingUnsupported(
            f"the active stack {stack.name!r} uses the {orchestrator.flavor!r} orchestrator, which cannot run "
            "ZenML schedules.\n"
            "  Either run the local trigger instead (drop --orchestrator-schedule): "
            "llm-engineering schedule --config <file>\n"
            "  or register and activate a stack whose orchestrator can (kubernetes, airflow, vertex, sagemaker), "
            "e.g.\n"
            "    zenml orchestrator register k8s --flavor=kubernetes --kubernetes_context=<context>\n"
            "    zenml stack register k8s-stack -o k8s -a <remote artifact store> -c <container registry> --set"
        )
    return orchestrator.flavor


def _with_schedule(loaded: LoadedRunConfig, schedule: Schedule) -> LoadedRunConfig:
    # The runner hands `loaded.zenml` to `pipeline.with_options(config_path=...)`; `schedule:` is part of
    # ZenML's run-config format, so this is `with_options(schedule=...)` without a second code path.
    zenml = {**loaded.zenml, "schedule": schedule.model_dump(mode="json", exclude_none=True)}
    return loaded.model_copy(update={"zenml": zenml})


def schedule_on_orchestrator(schedule: LoadedSchedule) -> list[Any]:
    """Registers the feature pipeline (and training, when configured) on the active orchestrator's scheduler."""
    check_orchestrator_can_schedule()
    timing = schedule.config.schedule
    responses = [run_pipeline("feature_engineering", _with_schedule(schedule.feature, build_zenml_schedule(timing)))]
    if schedule.training is not None:
        responses.append(run_pipeline("training", _with_schedule(schedule.training, build_zenml_schedule(timing))))
    return responses
