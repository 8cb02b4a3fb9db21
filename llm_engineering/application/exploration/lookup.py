"""`llm-engineering explore`: the exploration of a dataset version, as the feature run stored it, or made now (a
version saved before exploration existed, a dataset saved by hand, or `--fresh`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_engineering.application.exploration.explore import explore_configured
from llm_engineering.application.exploration.review_import import dataset_version
from llm_engineering.domain.exploration import DatasetExploration


def stored_exploration(artifact: Any) -> DatasetExploration | None:
    """The exploration the feature run recorded on this dataset version (`exploration` metadata), if any."""
    from zenml.client import Client

    reference = (artifact.run_metadata or {}).get("exploration")
    if not isinstance(reference, str) or ":" not in reference:
        return None
    name, version = reference.rsplit(":", 1)
    try:
        return Client().get_artifact_version(name, version).load()
    except KeyError:  # deleted since: make it again
        return None


def exploration_of(
    name: str, version: str | None, parameters: Callable[[], Any], fresh: bool = False
) -> DatasetExploration:
    """`parameters`: gives the feature pipeline's (its embedding, qdrant and datasets.exploration blocks), read only
    for an exploration made now. UnknownDatasetVersion when the artifact or the version does not exist."""
    artifact = dataset_version(name, version)
    if not fresh and (stored := stored_exploration(artifact)) is not None:
        return stored
    feature = parameters()
    return explore_configured(artifact.load(), name, str(artifact.version), feature.datasets.exploration,
                              feature.embedding, feature.qdrant)  # fmt: skip
