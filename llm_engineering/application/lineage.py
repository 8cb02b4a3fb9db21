"""Where did this come from? Walks ZenML's own records: artifact version -> producing step -> its inputs, ...

`lineage_for("embedded_chunks")` gives embedded_chunks <- chunks <- cleaned_documents <- changed_documents
<- raw_documents, and for the raw documents the sources themselves (location, fetch time), read from the
artifact. `lineage_for("model:<name>[:version]")` starts at a Model Control Plane version: its stage, metrics, its
pipeline runs, its linked artifacts, the `model_summary` its run wrote (the record the dashboard shows: every evaluated
model's metrics, the dataset versions, the promotion and its reason), and the lineage of what those runs consumed from
outside (the datasets).

A dataset version (`instruction_dataset[:version]`) is not walked step by step: a step reused from ZenML's cache
points at the run that first made its output (another corpus, another collection), and the crawl lists every
document, not the ones the samples were made from. Its sources are derived from its own rows instead: each sample
names its `document_id` and `chunk_id`; the samples a version added are joined with the chunks and the crawl of the
run that published it (`generation_chunks`, `raw_documents`, produced by that run, never by a cached one), and the
samples carried over from the previous version with the records of the run that published that one, and so on.
Rendering (rich tree, markdown) lives in `lineage_rendering.py`; this module only builds the tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from llm_engineering.domain.model_summary import ModelVersionSummary

RAW_DOCUMENTS_ARTIFACT = "raw_documents"
MODEL_SUMMARY_ARTIFACT = "model_summary"
MAX_DEPTH = 16


class LineageError(LookupError):
    pass


class SourceRecord(BaseModel):
    source: str
    location: str
    fetched_at: datetime


class ArtifactIdentity(BaseModel):
    """Which artifact version, and the step, run and pipeline that produced it."""

    artifact: str
    version: str
    artifact_version_id: str
    created: datetime | None = None
    step: str | None = None
    run: str | None = None
    pipeline: str | None = None


class LineageNode(ArtifactIdentity):
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


class SampleDocument(BaseModel):
    """One document a dataset's samples were generated from, and how many of them."""

    document_id: str
    source: str
    location: str | None = Field(None, description="None: the run that made its samples kept no record of it")
    title: str | None = None
    fetched_at: datetime | None = Field(None, description="when that run crawled it")
    samples: int = 0
    splits: dict[str, int] = Field({}, description="samples per split (train, test)")
    chunks: int = Field(0, description="distinct chunks its samples were generated from")
    document_chunks: int | None = Field(None, description="its chunks that the run generated from (when known)")


class SampleBatch(BaseModel):
    """The samples one dataset version added, with the records of the run that published it."""

    version: str
    run: str | None = None
    pipeline: str | None = None
    collection: str | None = Field(None, description="the Qdrant collection the run read the chunks from")
    qdrant: str | None = Field(None, description="where that collection is: a server URL or a local folder")
    samples: int = 0
    documents: list[SampleDocument] = []
    note: str | None = None


class DatasetLineage(ArtifactIdentity):
    """A dataset version, the run that produced it, and exactly the documents its rows come from."""

    samples: int = 0
    splits: dict[str, int] = {}
    # Newest first: what this version added, then what each earlier version it carries over added.
    batches: list[SampleBatch] = []
    max_documents: int | None = Field(None, description="documents listed per batch; None: all")
    note: str | None = None

    @property
    def label(self) -> str:
        return f"{self.artifact}:{self.version}"

    def documents(self) -> dict[str, SampleDocument]:
        """document_id -> the document, its samples summed over the batches (a document regenerated later has
        samples in two)."""
        merged: dict[str, SampleDocument] = {}
        for batch in self.batches:
            for document in batch.documents:
                if document.document_id not in merged:
                    merged[document.document_id] = document.model_copy(deep=True)
                    continue
                total = merged[document.document_id]
                total.samples += document.samples
                total.chunks += document.chunks
                for split, count in document.splits.items():
                    total.splits[split] = total.splits.get(split, 0) + count
        return merged


class ModelLineage(BaseModel):
    model: str
    version: str
    number: int
    stage: str | None = None
    runs: list[str] = []
    artifacts: list[str] = []
    metadata: dict[str, str] = {}
    metrics: dict[str, float] = Field({}, description="the numeric metadata of the version (evaluation metrics)")
    summary: ModelVersionSummary | None = Field(
        None, description="the run's model_summary artifact: what the dashboard shows of this version"
    )
    roots: list[LineageNode | DatasetLineage] = []


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


def _artifact_version(client: Any, name: str, version: str | None) -> Any:
    try:
        return client.get_artifact_version(name, version)
    except KeyError as exc:
        raise LineageError(f"no artifact version {name}{':' + version if version else ''} in ZenML") from exc


def artifact_lineage(name: str, version: str | None = None, max_sources: int = 10, client: Any = None) -> LineageNode:
    """The lineage of `name` (latest version unless `version` is given), walked step by step."""
    client = client or _client()
    return _Walker(client, max_sources).node(_artifact_version(client, name, version))


def artifact_version_lineage(
    artifact_version_id: UUID | str, max_sources: int = 10, client: Any = None
) -> LineageNode | DatasetLineage:
    """By id: a dataset version's documents (see `dataset_lineage`), any other artifact's step-by-step chain."""
    client = client or _client()
    return _lineage_of(client.get_artifact_version(artifact_version_id), _Walker(client, max_sources), max_sources)


def _lineage_of(
    artifact_version: Any, walker: _Walker, max_documents: int | None = None
) -> LineageNode | DatasetLineage:
    if _is_dataset(artifact_version):
        return _DatasetWalker(walker).lineage(artifact_version, max_documents)
    return walker.node(artifact_version)


def _is_dataset(artifact_version: Any) -> bool:
    """A Hugging Face DatasetDict (instruction_dataset, preference_dataset): its rows name their documents."""
    data_type = getattr(artifact_version, "data_type", None)
    return getattr(data_type, "attribute", "") == "DatasetDict"


def dataset_lineage(
    name: str, version: str | None = None, max_documents: int | None = None, client: Any = None
) -> DatasetLineage:
    """The documents the rows of dataset version `name[:version]` (latest unless given) come from, per run."""
    client = client or _client()
    artifact_version = _artifact_version(client, name, version)
    if not _is_dataset(artifact_version):
        raise LineageError(
            f"{name}:{artifact_version.version} is not a dataset version (a DatasetDict): "
            f"`llm-engineering lineage {name}` walks its steps instead"
        )
    return _DatasetWalker(_Walker(client, 0)).lineage(artifact_version, max_documents)


# Versions only grow: the publishing step reads the previous version as `previous_<name>` and appends to it.
PREVIOUS_VERSION_INPUT = "previous_{name}"
CHUNKS_ARTIFACT = "generation_chunks"
MAX_VERSIONS = 256


class _DatasetWalker:
    """Attributes each row of a dataset version to the version that added it, and joins it with the records of
    the run that published that version: its own `generation_chunks` and `raw_documents`, never a cached step's."""

    def __init__(self, walker: _Walker):
        self.walker = walker

    def lineage(self, artifact_version: Any, max_documents: int | None) -> DatasetLineage:
        lineage = DatasetLineage(
            artifact=artifact_version.name,
            version=str(artifact_version.version),
            artifact_version_id=str(artifact_version.id),
            created=artifact_version.created,
            max_documents=max_documents,
        )
        rows = _rows(artifact_version)
        lineage.samples = len(rows)
        for row in rows:
            lineage.splits[row["split"]] = lineage.splits.get(row["split"], 0) + 1
        if artifact_version.producer_step_run_id is not None:
            step = self.walker.step(artifact_version.producer_step_run_id)
            run = self.walker.run(step.pipeline_run_id)
            lineage.step, lineage.run = step.name, run.name
            lineage.pipeline = run.pipeline.name if run.pipeline else None
        unattributed = rows
        current: Any = artifact_version
        while current is not None and unattributed:
            if len(lineage.batches) >= MAX_VERSIONS:
                lineage.note = f"more than {MAX_VERSIONS} earlier versions; the rest were not read"
                break
            previous = self._previous_version(current)
            earlier_ids = {row["sample_id"] for row in _rows(previous)} if previous is not None else set()
            added = [row for row in unattributed if row["sample_id"] not in earlier_ids]
            unattributed = [row for row in unattributed if row["sample_id"] in earlier_ids]
            if added:
                lineage.batches.append(self._batch(current, added))
            current = previous
        return lineage

    def _previous_version(self, artifact_version: Any) -> Any | None:
        if artifact_version.producer_step_run_id is None:
            return None
        step = self.walker.step(artifact_version.producer_step_run_id)
        previous = step.inputs.get(PREVIOUS_VERSION_INPUT.format(name=artifact_version.name)) or []
        return previous[0] if previous else None

    def _batch(self, artifact_version: Any, rows: list[dict[str, Any]]) -> SampleBatch:
        batch = SampleBatch(version=str(artifact_version.version), samples=len(rows))
        if artifact_version.producer_step_run_id is None:
            batch.note = "not produced by a pipeline run (saved by hand): no record of its documents"
            batch.documents = _documents(rows, {}, {})
            return batch
        run = self.walker.run(self.walker.step(artifact_version.producer_step_run_id).pipeline_run_id)
        batch.run = run.name
        batch.pipeline = run.pipeline.name if run.pipeline else None
        notes: list[str] = []
        chunk_artifact, chunk_step = self._own_output(run, CHUNKS_ARTIFACT)
        if chunk_step is not None:  # the step that read the chunks from Qdrant: its collection, as configured
            qdrant = chunk_step.config.parameters.get("qdrant") or {}
            batch.collection = qdrant.get("collection")
            batch.qdrant = qdrant.get("url") or qdrant.get("path") or "the default local folder (<data dir>/qdrant)"
        chunks = {c.chunk_id: c for c in _items(run, CHUNKS_ARTIFACT, chunk_artifact, "chunks", notes)}
        raw_artifact, _ = self._own_output(run, RAW_DOCUMENTS_ARTIFACT)
        crawled = {d.document_id: d for d in _items(run, RAW_DOCUMENTS_ARTIFACT, raw_artifact, "documents", notes)}
        batch.note = "; ".join(notes) or None
        batch.documents = _documents(rows, chunks, crawled)
        return batch

    def _own_output(self, run: Any, name: str) -> tuple[Any | None, Any | None]:
        """The artifact `name` that a step of `run` produced itself (a cached step's output belongs to another run)."""
        for step in run.steps.values():
            for version in step.outputs.get(name, []):
                if version.producer_pipeline_run_id == run.id:
                    return version, step
        return None, None


def _items(run: Any, name: str, artifact_version: Any | None, attribute: str, notes: list[str]) -> list[Any]:
    """The chunks or documents of one of the run's own artifacts; what is missing is said in `notes`."""
    if artifact_version is None:
        notes.append(f"run {run.name} made no {name} of its own")
        return []
    try:
        return list(getattr(artifact_version.load(), attribute))
    except Exception as exc:  # an artifact store we cannot reach must not hide the samples' counts
        notes.append(f"could not load {name}:{artifact_version.version}: {exc}")
        return []


def _rows(artifact_version: Any) -> list[dict[str, Any]]:
    """sample_id, document_id, chunk_id, source and split of every row of a dataset version."""
    dataset = artifact_version.load()
    rows = []
    for split in dataset:
        table = dataset[split]
        columns = {
            name: table[name]
            for name in ("sample_id", "document_id", "chunk_id", "source")
            if name in table.column_names
        }
        for index in range(len(table)):
            row = {name: values[index] for name, values in columns.items()}
            rows.append(
                {
                    "split": split,
                    "sample_id": row.get("sample_id") or f"{split}:{index}",
                    "document_id": row.get("document_id") or "(no document_id)",
                    "chunk_id": row.get("chunk_id"),
                    "source": row.get("source") or "",
                }
            )
    return rows


def _documents(rows: list[dict[str, Any]], chunks: dict[str, Any], crawled: dict[str, Any]) -> list[SampleDocument]:
    by_document: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_document.setdefault(row["document_id"], []).append(row)
    chunks_per_document: dict[str, int] = {}
    for chunk in chunks.values():
        chunks_per_document[chunk.document_id] = chunks_per_document.get(chunk.document_id, 0) + 1
    documents = []
    for document_id, its_rows in by_document.items():
        document = SampleDocument(
            document_id=document_id,
            source=its_rows[0]["source"],
            samples=len(its_rows),
            chunks=len({row["chunk_id"] for row in its_rows if row["chunk_id"]}),
            document_chunks=chunks_per_document.get(document_id) if chunks else None,
        )
        for row in its_rows:
            document.splits[row["split"]] = document.splits.get(row["split"], 0) + 1
        raw = crawled.get(document_id)
        chunk = next((chunks[r["chunk_id"]] for r in its_rows if r["chunk_id"] in chunks), None)
        if raw is not None:
            document.location, document.title, document.fetched_at = raw.location, raw.title, raw.fetched_at
        elif chunk is not None and chunk.document_id == document_id:
            document.location = chunk.location
        documents.append(document)
    return sorted(documents, key=lambda d: (d.location is None, d.location or "", d.document_id))


def model_lineage(
    name: str, version: str | None = None, max_sources: int | None = 10, client: Any = None
) -> ModelLineage:
    """A model version (latest unless given): its stage, metrics, runs and artifacts, and the lineage of what those
    runs read (a dataset: its documents, `max_sources` per run, all when None)."""
    from zenml.utils.pagination_utils import depaginate

    client = client or _client()
    try:
        model_version = client.get_model_version(name, version)
    except KeyError as exc:
        raise LineageError(f"no model version {name}{':' + version if version else ''} in ZenML") from exc
    run_links = depaginate(client.list_model_version_pipeline_run_links, model_version_id=model_version.id)
    runs = [link.pipeline_run for link in run_links]
    linked = depaginate(client.list_artifact_versions, model_version_id=model_version.id)
    walker = _Walker(client, max_sources or 10)
    roots = [_lineage_of(item, walker, max_sources) for item in _lineage_roots(runs, linked, walker)]
    metadata = model_version.run_metadata or {}
    return ModelLineage(
        model=model_version.model.name,
        version=model_version.name,
        number=model_version.number,
        stage=str(model_version.stage) if model_version.stage else None,
        runs=sorted(run.name for run in runs),
        artifacts=sorted(f"{item.name}:{item.version}" for item in linked),
        metadata={key: str(value)[:200] for key, value in sorted(metadata.items())},
        metrics={
            key: float(value)
            for key, value in sorted(metadata.items())
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
        summary=_model_summary(linked),
        roots=roots,
    )


def _model_summary(linked: list[Any]) -> ModelVersionSummary | None:
    """The newest model_summary linked to the version (the promotion step of its run writes one)."""
    summaries = sorted((v for v in linked if v.name == MODEL_SUMMARY_ARTIFACT), key=lambda v: v.created)
    if not summaries:
        return None
    try:
        loaded = summaries[-1].load()
    except Exception:  # noqa: BLE001 - an unreadable summary must not hide the rest of the lineage
        return None
    return loaded if isinstance(loaded, ModelVersionSummary) else None


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


def lineage_for(target: str, max_sources: int | None = None) -> LineageNode | DatasetLineage | ModelLineage:
    """`name`, `name:version`, `model:name` or `model:name:version` - what the CLI accepts.

    A dataset version lists the documents its rows come from (all of them unless `max_sources` is given); any
    other artifact its chain of steps, with the first `max_sources` (10) raw documents.
    """
    client = _client()
    if target.startswith("model:"):
        name, _, version = target.removeprefix("model:").partition(":")
        return model_lineage(name, version or None, max_sources, client)
    name, _, version = target.partition(":")
    artifact_version = _artifact_version(client, name, version or None)
    return _lineage_of(artifact_version, _Walker(client, max_sources or 10), max_sources)
