"""Artifact lookups for pipeline composition."""

from __future__ import annotations

from typing import Any


def find_artifact_version(name: str, version: str | None = None) -> Any | None:
    """The artifact version (latest when `version` is None), or None when there is none.

    Inside a pipeline function `Client().get_artifact_version` is lazy: a missing artifact would fail only
    when the first step starts, with ZenML's generic message. Listing is not lazy, so callers can decide now.
    """
    from zenml.client import Client

    versions = Client().list_artifact_versions(artifact=name, version=version, sort_by="desc:created", size=1)
    return versions.items[0] if versions.items else None


PIN_ANOTHER_TRAINING_DATASET = "Pin a version that loads with `--set datasets.<instruction|preference>.version=N`."


class BrokenDatasetVersion(RuntimeError):
    """A stored dataset version that cannot be loaded; the message names it and the way past it."""


def check_dataset_version(artifact_version: Any, way_past: str) -> Any:
    """The loaded DatasetDict of `artifact_version`, so a bad version fails here, naming itself, instead of inside a
    step with a bare IndexError. Versions written before empty splits got a shard (`"_data_files": []`) are given
    their empty shard in place: the same data, now loadable. `way_past`: what the user can do instead."""
    from pathlib import Path

    from llm_engineering.infrastructure.dataset_storage import shardless_splits, write_empty_shard

    label = f"{artifact_version.artifact.name} version {artifact_version.version}"
    try:
        return artifact_version.load()
    except Exception as first:  # noqa: BLE001 - any failure to load is reported with the version's name
        error = first
        folder = Path(artifact_version.uri) / "hf_datasets"
        empty = shardless_splits(folder) if folder.is_dir() else []
        if empty:
            import logging

            for split in empty:
                write_empty_shard(folder / split)
            logging.getLogger(__name__).warning("%s: gave empty split(s) %s their missing empty shard", label, empty)
            try:
                return artifact_version.load()
            except Exception as exc:  # noqa: BLE001
                error = exc
        raise BrokenDatasetVersion(
            f"{label} (artifact {artifact_version.id}, at {artifact_version.uri}) cannot be loaded: {error!r}. "
            f"{way_past}"
        ) from error
