"""`llm-engineering explore` in the terminal: the summary statistics and the cluster table, as rich rules and tables
(the look of `preview-data`)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llm_engineering.domain.exploration import DatasetExploration

OUTLIERS_PRINTED = 10


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_exploration(exploration: DatasetExploration, console: Console) -> None:
    s, topics = exploration.statistics, exploration.topic_map
    splits = ", ".join(f"{c.count} {c.name}" for c in s.splits)
    console.rule(f"{exploration.dataset} version {exploration.version}: {s.samples} samples ({splits})")
    for error in exploration.errors:
        console.print(f"[bold red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
    console.print(f"{s.documents} documents, {len(s.sources)} sources: "
                  + ", ".join(f"{c.name} {c.count}" for c in s.sources), highlight=False, soft_wrap=True)  # fmt: skip
    lengths = Table(title=f"token lengths ({s.tokenizer})", title_justify="left")
    for column in ("field", "samples", "n", "mean", "median", "max"):
        lengths.add_column(column, justify="left" if column in ("field", "samples") else "right")
    for d in s.lengths:
        lengths.add_row(d.field, d.group, str(d.samples), _number(d.histogram.mean), _number(d.histogram.median),
                        _number(d.histogram.maximum, 0))  # fmt: skip
    console.print(lengths)
    diversity = Table(title="vocabulary and distinct-n", title_justify="left")
    for column in ("field", "words", "vocabulary", "distinct-1", "distinct-2"):
        diversity.add_column(column, justify="left" if column == "field" else "right")
    for d in s.diversity:
        diversity.add_row(d.field, str(d.words), str(d.vocabulary), f"{d.distinct_1:.3f}", f"{d.distinct_2:.3f}")
    console.print(diversity)
    if s.opening_phrases:
        console.print("opening phrases: " + ", ".join(f"'{escape(c.name)}' {c.count}" for c in s.opening_phrases[:5]),
                      highlight=False, soft_wrap=True)  # fmt: skip
    for score in s.scores:
        console.print(f"{score.column}: {score.scored} scored, mean {_number(score.histogram.mean, 3)}",
                      highlight=False)  # fmt: skip
    if s.chosen_minus_rejected_tokens is not None:
        console.print(f"chosen minus rejected tokens per pair: mean {_number(s.chosen_minus_rejected_tokens.mean)}",
                      highlight=False)  # fmt: skip
    console.rule(f"topic map: {topics.status}")
    if topics.status != "clustered":
        console.print(escape(topics.message), highlight=False, soft_wrap=True)
        return
    console.print(escape(topics.message), highlight=False, soft_wrap=True)
    clusters = Table()
    for column in ("cluster", "label", "samples", "train / test", "mean score", "example"):
        clusters.add_column(column, justify="right" if column in ("cluster", "samples", "mean score") else "left",
                            overflow="fold")  # fmt: skip
    for c in topics.clusters:
        clusters.add_row(str(c.cluster), escape(c.label), str(c.size), f"{c.train} / {c.test}",
                         _number(c.mean_score, 2), escape(c.examples[0] if c.examples else ""))  # fmt: skip
    if topics.outliers:
        clusters.add_row("–", "[i]outliers[/]", str(len(topics.outliers)), "", "", "")
    console.print(clusters)
    for outlier in topics.outliers[:OUTLIERS_PRINTED]:
        console.print(f"  outlier ({outlier.split}, {escape(outlier.source)}): {escape(outlier.text)}",
                      highlight=False, soft_wrap=True)  # fmt: skip
    if len(topics.outliers) > OUTLIERS_PRINTED:
        console.print(f"  ... and {len(topics.outliers) - OUTLIERS_PRINTED} more outliers (in the HTML report)")
