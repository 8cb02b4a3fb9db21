"""The model version in a promotion stage (production), as a model the win rate can load: the trained folder of the
stage it exported, read from the `trained_stage` artifact of the run that made it. Its export folder is no good here: it
may hold merged weights or an adapter only, and with `export.folder` set every run replaces it."""

from __future__ import annotations

from llm_engineering.domain.model_summary import recorded_export
from llm_engineering.domain.training import TrainedStage
from llm_engineering.domain.win_rate import ProductionModel, WinRateOpponents


def find_production_model(model_name: str, stage: str) -> WinRateOpponents:
    """The `stage` version of `model_name` and its final stage's folder, or why there is none to compare with."""
    from zenml.client import Client
    from zenml.utils.pagination_utils import depaginate

    client = Client()
    # Listing, not get_model_version: inside a pipeline function that is lazy (resolved when a step starts).
    try:
        found = client.list_model_versions(model_name_or_id=model_name, stage=stage, size=1).items
    except KeyError:  # no model of that name yet
        found = []
    if not found:
        return WinRateOpponents(production_missing=f"no {stage} version of {model_name} yet")
    version = found[0]
    exported = recorded_export(version.run_metadata)
    label = f"{stage} version {version.number}"
    if exported is None:
        return WinRateOpponents(production_missing=f"{label} records no exported stage (exported_model.stage)")
    final = exported.stage
    for link in depaginate(client.list_model_version_pipeline_run_links, model_version_id=version.id):
        step = client.get_pipeline_run(link.pipeline_run.id).steps.get(f"train_{final}")
        if step is None or "trained_stage" not in step.outputs:
            continue
        trained = step.outputs["trained_stage"][0].load()
        if isinstance(trained, TrainedStage) and trained.model_dir.is_dir():
            return WinRateOpponents(
                production=ProductionModel(version=str(version.number), stage=final, model_dir=trained.model_dir)
            )
    return WinRateOpponents(production_missing=f"the trained folder of {label}'s {final!r} stage is gone")
