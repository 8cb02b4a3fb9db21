"""Lineage trees for people: a rich Tree for the terminal, markdown for model cards."""

from __future__ import annotations

import os

from rich.markup import escape
from rich.tree import Tree

from llm_engineering.application.lineage import DatasetLineage, LineageNode, ModelLineage, SampleBatch, SampleDocument
from llm_engineering.application.model_summary import evaluated_line, promotion_line


def _describe(node: LineageNode) -> str:
    if node.seen_above:
        return f"{node.label} (shown above)"
    produced = f" <- step {node.step} in run {node.run}" if node.step else ""
    return f"{node.label}{produced}"


def _source_lines(node: LineageNode) -> list[str]:
    lines = [f"{s.location} (source {s.source}, fetched {s.fetched_at:%Y-%m-%d %H:%M:%S %Z})" for s in node.sources]
    if node.sources_total > len(node.sources):
        lines.append(f"... and {node.sources_total - len(node.sources)} more ({node.sources_total} documents)")
    return lines


def _add(tree: Tree, node: LineageNode) -> None:
    branch = tree.add(escape(_describe(node)))
    if node.note:
        branch.add(f"[dim]{escape(node.note)}[/]")
    for line in _source_lines(node):
        branch.add(f"[cyan]{escape(line)}[/]")
    for child in node.inputs:
        _add(branch, child)


SPLIT_ORDER = {"train": 0, "test": 1}


def _counts(splits: dict[str, int]) -> str:
    ordered = sorted(splits.items(), key=lambda item: (SPLIT_ORDER.get(item[0], len(SPLIT_ORDER)), item[0]))
    return ", ".join(f"{count} {split}" for split, count in ordered)


def _dataset_summary(lineage: DatasetLineage) -> str:
    documents = len(lineage.documents())
    return (
        f"{lineage.label}: {lineage.samples} samples ({_counts(lineage.splits)}) "
        f"from {documents} document{'s' if documents != 1 else ''}"
    )


def _producer(lineage: DatasetLineage) -> str:
    if not lineage.run:
        return "not produced by a pipeline run (saved by hand)"
    pipeline = f" (pipeline {lineage.pipeline})" if lineage.pipeline else ""
    return f"produced by step {lineage.step} in run {lineage.run}{pipeline}"


def _batch_header(lineage: DatasetLineage, batch: SampleBatch) -> str:
    if batch.version == lineage.version:
        header = f"{batch.samples} samples added by this version"
    else:
        header = f"{batch.samples} samples carried over from version {batch.version}"
    return header + (f", generated in run {batch.run}" if batch.run else "")


def _folder(documents: list[SampleDocument]) -> str | None:
    """The folder all these documents are in, when they are files: listed once, the documents by relative path."""
    locations = [d.location for d in documents if d.location]
    if not locations or not all(os.path.isabs(location) for location in locations):
        return None
    folder = os.path.commonpath([os.path.dirname(location) for location in locations])
    return folder if folder != os.path.sep else None


def _batch_details(batch: SampleBatch) -> list[str]:
    details = [f"chunks read from Qdrant collection {batch.collection} at {batch.qdrant}"] if batch.collection else []
    folder = _folder(batch.documents)
    if folder:
        details.append(f"documents in {folder}")
    return details


def _document_line(document: SampleDocument, folder: str | None) -> str:
    if document.location is None:
        where = f"document {document.document_id} (no record of it in that run)"
    else:
        where = os.path.relpath(document.location, folder) if folder else document.location
    details = [f"source {document.source}"] if document.source else []
    if document.fetched_at:
        details.append(f"fetched {document.fetched_at:%Y-%m-%d %H:%M:%S %Z}".rstrip())
    of = f" of its {document.document_chunks}" if document.document_chunks else ""
    chunks = f"{document.chunks}{of} chunk{'s' if (document.document_chunks or document.chunks) != 1 else ''}"
    described = f" ({', '.join(details)})" if details else ""
    return f"{where}{described}: {document.samples} samples ({_counts(document.splits)}) from {chunks}"


def _document_lines(lineage: DatasetLineage, batch: SampleBatch) -> list[str]:
    shown = batch.documents if lineage.max_documents is None else batch.documents[: lineage.max_documents]
    folder = _folder(batch.documents)
    lines = [_document_line(document, folder) for document in shown]
    if len(batch.documents) > len(shown):
        lines.append(f"... and {len(batch.documents) - len(shown)} more ({len(batch.documents)} documents)")
    return lines


def _add_dataset(tree: Tree, lineage: DatasetLineage) -> None:
    branch = tree.add(escape(_dataset_summary(lineage)))
    branch.add(escape(_producer(lineage)))
    if lineage.note:
        branch.add(f"[dim]{escape(lineage.note)}[/]")
    for batch in lineage.batches:
        batch_branch = branch.add(escape(_batch_header(lineage, batch)))
        for line in _batch_details(batch):
            batch_branch.add(escape(line))
        if batch.note:
            batch_branch.add(f"[dim]{escape(batch.note)}[/]")
        for line in _document_lines(lineage, batch):
            batch_branch.add(f"[cyan]{escape(line)}[/]")


def _add_root(tree: Tree, root: LineageNode | DatasetLineage) -> None:
    if isinstance(root, DatasetLineage):
        _add_dataset(tree, root)
    else:
        _add(tree, root)


def _metrics(lineage: ModelLineage) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in lineage.metrics.items())


def _summary_lines(lineage: ModelLineage) -> list[str]:
    """What the model_summary artifact (the dashboard's view of the version) says, in the same words."""
    summary = lineage.summary
    assert summary is not None
    lines = [f"promotion: {promotion_line(summary)}"]
    if summary.stage != lineage.stage:
        lines.append(f"stage when its run ended: {summary.stage or 'none'} (now: {lineage.stage or 'none'})")
    lines += [f"evaluated {evaluated_line(model)}" for model in summary.evaluated]
    lines.append(f"exported stage {summary.exported_stage} from run {summary.run_name}")
    lines.append("trained on: " + ", ".join(dataset.label for dataset in summary.datasets))
    return lines


def lineage_tree(lineage: LineageNode | DatasetLineage | ModelLineage) -> Tree:
    if not isinstance(lineage, ModelLineage):
        tree = Tree("[bold]lineage[/]")
        _add_root(tree, lineage)
        return tree
    stage = f", stage {lineage.stage}" if lineage.stage else ""
    tree = Tree(escape(f"model {lineage.model}:{lineage.version} (#{lineage.number}{stage})"), style="bold")
    if lineage.metrics:
        tree.add(escape(f"metrics: {_metrics(lineage)}"))
    if lineage.summary is not None:
        for line in _summary_lines(lineage):
            tree.add(escape(line))
    elif "promotion" in lineage.metadata:
        tree.add(escape(f"promotion: {lineage.metadata['promotion']}"))
    if lineage.runs:
        tree.add(escape(f"pipeline runs: {', '.join(lineage.runs)}"))
    if lineage.artifacts:
        tree.add(escape(f"linked artifacts: {', '.join(lineage.artifacts)}"))
    for root in lineage.roots:
        _add_root(tree, root)
    return tree


def _markdown_lines(node: LineageNode, depth: int) -> list[str]:
    indent = "  " * depth
    lines = [f"{indent}- `{node.label}`" + (f" from step `{node.step}`, run `{node.run}`" if node.step else "")]
    if node.seen_above:
        lines[0] += " (shown above)"
    lines += [f"{indent}  - {line}" for line in _source_lines(node)]
    for child in node.inputs:
        lines += _markdown_lines(child, depth + 1)
    return lines


def _dataset_markdown_lines(lineage: DatasetLineage) -> list[str]:
    lines = [f"- `{lineage.label}`: {_dataset_summary(lineage).split(': ', 1)[1]}; {_producer(lineage)}"]
    if lineage.note:
        lines.append(f"  - {lineage.note}")
    for batch in lineage.batches:
        details = [*_batch_details(batch), *([batch.note] if batch.note else [])]
        lines.append(f"  - {_batch_header(lineage, batch)}" + (f"; {'; '.join(details)}" if details else ""))
        lines += [f"    - {line}" for line in _document_lines(lineage, batch)]
    return lines


def _root_markdown_lines(root: LineageNode | DatasetLineage) -> list[str]:
    return _dataset_markdown_lines(root) if isinstance(root, DatasetLineage) else _markdown_lines(root, 0)


def lineage_markdown(lineage: LineageNode | DatasetLineage | ModelLineage) -> str:
    """The same chain as `llm-engineering lineage`, as a markdown list (for the model card)."""
    if not isinstance(lineage, ModelLineage):
        return "\n".join(_root_markdown_lines(lineage)) + "\n"
    header = [f"Model `{lineage.model}` version `{lineage.version}`"]
    if lineage.runs:
        header.append(f"pipeline runs: {', '.join(f'`{run}`' for run in lineage.runs)}")
    if lineage.stage:
        header.append(f"stage `{lineage.stage}`")
    if lineage.metrics:
        header.append(f"metrics: {_metrics(lineage)}")
    lines = ["; ".join(header), ""]
    if lineage.summary is not None:
        lines += [f"- {line}" for line in _summary_lines(lineage)] + [""]
    for root in lineage.roots:
        lines += _root_markdown_lines(root)
    return "\n".join(lines) + "\n"
