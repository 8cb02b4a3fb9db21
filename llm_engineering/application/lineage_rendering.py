"""Lineage trees for people: a rich Tree for the terminal, markdown for model cards."""

from __future__ import annotations

from rich.markup import escape
from rich.tree import Tree

from llm_engineering.application.lineage import LineageNode, ModelLineage


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


def lineage_tree(lineage: LineageNode | ModelLineage) -> Tree:
    if isinstance(lineage, LineageNode):
        tree = Tree("[bold]lineage[/]")
        _add(tree, lineage)
        return tree
    stage = f", stage {lineage.stage}" if lineage.stage else ""
    tree = Tree(escape(f"model {lineage.model}:{lineage.version} (#{lineage.number}{stage})"), style="bold")
    if lineage.runs:
        tree.add(escape(f"pipeline runs: {', '.join(lineage.runs)}"))
    if lineage.artifacts:
        tree.add(escape(f"linked artifacts: {', '.join(lineage.artifacts)}"))
    for root in lineage.roots:
        _add(tree, root)
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


def lineage_markdown(lineage: LineageNode | ModelLineage) -> str:
    """The same chain as `llm-engineering lineage`, as a markdown list (for the model card)."""
    if isinstance(lineage, LineageNode):
        return "\n".join(_markdown_lines(lineage, 0)) + "\n"
    header = [f"Model `{lineage.model}` version `{lineage.version}`"]
    if lineage.runs:
        header.append(f"pipeline runs: {', '.join(f'`{run}`' for run in lineage.runs)}")
    lines = ["; ".join(header), ""]
    for root in lineage.roots:
        lines += _markdown_lines(root, 0)
    return "\n".join(lines) + "\n"
