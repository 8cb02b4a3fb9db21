"""Where did this come from? Walks ZenML's own records: artifact version -> producing step -> its inputs, ...

`lineage_for("embedded_chunks")` gives embedded_chunks <- chunks <- cleaned_documents <- changed_documents
<- raw_documents, and for the raw documents the sources themselves (location, fetch time), read from the
artifact. `lineage_for("model:<name>[:version]")` starts at a Model Control Plane version: its pipeline runs,
its linked artifacts, and the lineage of what those runs consumed from outside (the datasets).
Rendering (rich tree, markdown) lives in `lineage_rendering.py`; this module only builds the tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

RAW_DOCUMENTS_ARTIFACT = "raw_documents"
MAX_DEPTH = 16


class LineageError(LookupError):
    pass


class SourceRecord(BaseModel):
    source: str
    location: str
    fetched_at: datetime


class LineageNode(BaseModel):
    artifact: str
    version: str
    artifact_version_id: str
    created: datetime | None = None
    step: str | None = None
    run: str | None = None
    pipeline: str | None = None
    # Filled for raw documents: the first `max_sources`, and how many there were.
    sources: list[SourceRecord] = []
    sources_total: int = 0
    note: str | None = None
    # Already shown elsewhere in this tree (a step can read the same artifact twice, e.g. cleaned_documents).
    seen_above: bool = False
    inputs: list[LineageNode] = []

    @property
    def label(self) -> str:
        return f"{self.artifact}:{self.version}"

    def walk(self) -> list[LineageNode]:
        """This node and everything below it, depth first."""
        return [self, *(node for child in self.inputs for node in child.walk())]


class ModelLineage(BaseModel):
    model: str
    version: str
    number: int
    stage: str | None = None
    runs: list[str] = []
    artifacts: list[str] = []
    metadata: dict[str, str] = {}
    roots: list[LineageNode] = []


# The previous crawl is read only to send conditional requests (ETag / Last-Modified); following it would
# chain every crawl back to the first one. Its sources are listed on the node itself.
CACHE_ONLY_INPUTS = {"previous_raw_documents"}


class _Walker:
    """Caches runs and step runs: a deep chain revisits them, and each is a store round trip."""

    def __init__(self, client: Any, max_sources: int):
        self.client = client
        self.max_sources = max_sources
        self.seen: set[UUID] = set()
        self._runs: dict[UUID, Any] = {}
        self._steps: dict[UUID, Any] = {}

    def step(self, step_run_id: UUID) -> Any:
        if step_run_id not in self._steps:
            self._steps[step_run_id] = self.client.get_run_step(step_run_id)
        return self._steps[step_run_id]

    def run(self, run_id: UUID) -> Any:
        if run_id not in self._runs:
            self._runs[run_id] = self.client.get_pipeline_run(run_id)
        return self._runs[run_id]

    def node(self, artifact_version: Any, depth: int = 0) -> LineageNode:
        node = LineageNode(
            artifact=artifact_version.name,
            version=str(artifact_version.version),
            artifact_version_id=str(artifact_version.id),
            created=artifact_version.created,
        )
        if artifact_version.id in self.seen:
            node.seen_above = True
            return node
        self.seen.add(artifact_version.id)
        if _is_raw_documents(artifact_version):
            self._add_sources(node, artifact_version)
        producer_id = artifact_version.producer_step_run_id
        if producer_id is None:
            node.note = "not produced by a step (uploaded or registered by hand)"
            return node
        step = self.step(producer_id)
        run = self.run(step.pipeline_run_id)
        node.step, node.run = step.name, run.name
        node.pipeline = run.pipeline.name if run.pipeline else None
        if depth >= MAX_DEPTH:
            node.note = f"deeper than {MAX_DEPTH} steps; not walked further"
            return node
        for input_name in sorted(set(step.inputs) - CACHE_ONLY_INPUTS):
            for input_version in step.inputs[input_name]:
                node.inputs.append(self.node(input_version, depth + 1))
        return node

    def _add_sources(self, node: LineageNode, artifact_version: Any) -> None:
        try:
            raw = artifact_version.load()
        except Exception as exc:  # an artifact store we cannot reach must not hide the rest of the chain
            node.note = f"could not load the documents to list their sources: {exc}"
            return
        documents = getattr(raw, "documents", [])
        node.sources_total = len(documents)
        node.sources = [
            SourceRecord(source=d.source, location=d.location, fetched_at=d.fetched_at)
            for d in documents[: self.max_sources]
        ]


def _is_raw_documents(artifact_version: Any) -> bool:
    data_type = getattr(artifact_version, "data_type", None)
    return artifact_version.name == RAW_DOCUMENTS_ARTIFACT or getattr(data_type, "attribute", "") == "RawDocuments"


def _client() -> Any:
    from zenml.client import Client

    return Client()


def artifact_lineage(name: str, version: str | None = None, max_sources: int = 10, client: Any = None) -> LineageNode:
    """The lineage of `name` (latest version unless `version` is given)."""
    client = client or _client()
    try:
        artifact_version = client.get_artifact_version(name, version)
    except KeyError as exc:
        raise LineageError(f"no artifact version {name}{':' + version if version else ''} in ZenML") from exc
    return _Walker(client, max_sources).node(artifact_version)


def artifact_version_lineage(artifact_version_id: UUID | str, max_sources: int = 10, client: Any = None) -> LineageNode:
    client = client or _client()
    return _Walker(client, max_sources).node(client.get_artifact_version(artifact_version_id))


def model_lineage(name: str, version: str | None = None, max_sources: int = 10, client: Any = None) -> ModelLineage:
    """A model version (latest unless given), its runs and artifacts, and the lineage of what those runs read."""
    from zenml.utils.pagination_utils import depaginate

    client = client or _client()
    try:
        model_version = client.get_model_version(name, version)
    except KeyError as exc:
        raise LineageError(f"no model version {name}{':' + version if version else ''} in ZenML") from exc
    run_links = depaginate(client.list_model_version_pipeline_run_links, model_version_id=model_version.id)
    runs = [link.pipeline_run for link in run_links]
    linked = depaginate(client.list_artifact_versions, model_version_id=model_version.id)
    walker = _Walker(client, max_sources)
    roots = [walker.node(item) for item in _lineage_roots(runs, linked, walker)]
    return ModelLineage(
        model=model_version.model.name,
        version=model_version.name,
        number=model_version.number,
        stage=str(model_version.stage) if model_version.stage else None,
        runs=sorted(run.name for run in runs),
        artifacts=sorted(f"{item.name}:{item.version}" for item in linked),
        metadata={key: str(value)[:200] for key, value in sorted((model_version.run_metadata or {}).items())},
        roots=roots,
    )


def _lineage_roots(runs: list[Any], linked: list[Any], walker: _Walker) -> list[Any]:
    """What the model's runs consumed from outside themselves (the datasets), plus artifacts linked by hand.

    When the runs read nothing from outside (a pipeline that crawls its own inputs), the linked artifacts that
    no step of those runs consumed - the runs' end products - are the roots instead.
    """
    run_ids = {run.id for run in runs}
    consumed: dict[UUID, Any] = {}
    for run in runs:
        for step in walker.run(run.id).steps.values():
            for versions in step.inputs.values():
                for version in versions:
                    consumed[version.id] = version
    external = [v for v in consumed.values() if v.producer_pipeline_run_id not in run_ids]
    by_hand = [v for v in linked if v.producer_pipeline_run_id not in run_ids and v.id not in consumed]
    roots = external + by_hand
    if not roots:
        roots = [v for v in linked if v.id not in consumed]
    return sorted(roots, key=lambda v: (v.name, str(v.version)))


def lineage_for(target: str, max_sources: int = 10) -> LineageNode | ModelLineage:
    """`name`, `name:version`, `model:name` or `model:name:version` - what the CLI accepts."""
    if target.startswith("model:"):
        name, _, version = target.removeprefix("model:").partition(":")
        return model_lineage(name, version or None, max_sources)
    name, _, version = target.partition(":")
    return artifact_lineage(name, version or None, max_sources)
