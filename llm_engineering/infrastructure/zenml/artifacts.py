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
