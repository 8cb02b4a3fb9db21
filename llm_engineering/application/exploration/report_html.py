"""The exploration as HTML for the ZenML dashboard and `llm-engineering explore --output`.

No script: the dashboard shows HTML visualizations in an iframe sandboxed without scripts (`sandbox=""`), where
plotly or any JavaScript chart stays blank. Charts are inline SVG instead, whose `<title>` elements the browser shows
as hover text: each point of the topic map names its sample and cluster, each histogram bar its range and count. The
most useful part (counts, map, cluster table) comes first: the dashboard's frame is 384 px high."""

from __future__ import annotations

import hashlib
import math
from html import escape

from llm_engineering.application.dataset_report import STYLE
from llm_engineering.domain.exploration import (
    Count,
    DatasetExploration,
    Histogram,
    LengthDistribution,
    TopicMap,
)

# Tableau's 10 colours, then darker variants: clusters past 20 reuse them (their number is in the hover text).
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#2f4b7c", "#a05195", "#d45087", "#665191", "#1b7837", "#b35806", "#542788", "#8c510a", "#01665e", "#c51b7d",
]  # fmt: skip
NOISE_COLOUR = "#9aa0a6"
MAP_WIDTH, MAP_HEIGHT, MARGIN = 960, 300, 16  # short enough to show whole in the dashboard's frame
JITTER_PX = 9.0
OUTLIERS_SHOWN = 30
EXTRA_STYLE = """<style>
svg.map{width:100%;max-width:960px;height:auto;border:1px solid #d0d7de;border-radius:6px;background:#fff}
svg.bars{vertical-align:middle}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.3em;vertical-align:middle}
.error{border:1px solid #cf222e;background:#ffebe9;border-radius:6px;padding:.4em .7em;margin:.4em 0}
.note{border:1px solid #d4a72c;background:#fff8c5;border-radius:6px;padding:.4em .7em;margin:.4em 0}
</style>"""


def colour(cluster: int) -> str:
    return NOISE_COLOUR if cluster < 0 else PALETTE[cluster % len(PALETTE)]


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def bars(histogram: Histogram, width: int = 180, height: int = 34, unit: str = "tokens") -> str:
    """A histogram as a small inline SVG; each bar's hover text gives its range and count."""
    if not histogram.counts:
        return "<span class='muted'>no values</span>"
    peak = max(histogram.counts)
    step = width / len(histogram.counts)
    rects = []
    for i, count in enumerate(histogram.counts):
        h = height * count / peak if peak else 0
        low, high = histogram.edges[i], histogram.edges[i + 1]
        label = f"{low:g}–{high:g} {unit}: {count}"
        rects.append(
            f"<rect x='{i * step:.1f}' y='{height - h:.1f}' width='{max(step - 1, 1):.1f}' height='{h:.1f}' "
            f"fill='#4a7bd0'><title>{escape(label)}</title></rect>"
        )
    return (
        f"<svg class='bars' width='{width}' height='{height + 12}' viewBox='0 0 {width} {height + 12}'>"
        f"{''.join(rects)}<text x='0' y='{height + 11}' font-size='10' fill='#656d76'>{histogram.edges[0]:g}</text>"
        f"<text x='{width}' y='{height + 11}' font-size='10' fill='#656d76' text-anchor='end'>"
        f"{histogram.edges[-1]:g}</text></svg>"
    )


def _spread(x: float, y: float, sample_id: str, radius: float = JITTER_PX) -> tuple[float, float]:
    """A fixed offset per sample (from its id): samples that share their chunk's vector sit on one spot of the map,
    and spread a few pixels apart they show how many they are."""
    digest = hashlib.blake2b(sample_id.encode(), digest_size=4).digest()
    angle, distance = digest[0] / 255 * 2 * math.pi, math.sqrt(digest[1] / 255) * radius
    return x + distance * math.cos(angle), y + distance * math.sin(angle)


def scatter(topics: TopicMap) -> str:
    """The 2-D map: one circle per sample coloured by cluster (noise grey), the cluster numbers at their centres."""
    if not topics.points:
        return ""
    xs, ys = [p.x for p in topics.points], [p.y for p in topics.points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (MAP_WIDTH - 2 * MARGIN) / ((x1 - x0) or 1)
    sy = (MAP_HEIGHT - 2 * MARGIN) / ((y1 - y0) or 1)

    def at(x: float, y: float) -> tuple[float, float]:
        return MARGIN + (x - x0) * sx, MAP_HEIGHT - MARGIN - (y - y0) * sy

    labels = {c.cluster: c.label for c in topics.clusters}
    circles = []
    for point in sorted(topics.points, key=lambda p: p.cluster):  # noise drawn first, under the clusters
        cx, cy = _spread(*at(point.x, point.y), point.sample_id)
        name = "outlier" if point.cluster < 0 else f"cluster {point.cluster}: {labels.get(point.cluster, '')}"
        circles.append(
            f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='{colour(point.cluster)}' "
            f"fill-opacity='{0.45 if point.cluster < 0 else 0.8}'><title>{escape(name)} · {point.split}\n"
            f"{escape(point.text)}</title></circle>"
        )
    centres = []
    for cluster in topics.clusters:
        members = [p for p in topics.points if p.cluster == cluster.cluster]
        cx, cy = at(sum(p.x for p in members) / len(members), sum(p.y for p in members) / len(members))
        centres.append(
            f"<text x='{cx:.1f}' y='{cy:.1f}' font-size='15' font-weight='700' text-anchor='middle' "
            f"stroke='#fff' stroke-width='3' paint-order='stroke' fill='#1f2328'>{cluster.cluster}</text>"
        )
    return (
        f"<svg class='map' viewBox='0 0 {MAP_WIDTH} {MAP_HEIGHT}' role='img' aria-label='topic map'>"
        f"{''.join(circles)}{''.join(centres)}</svg>"
    )


def _cluster_table(topics: TopicMap) -> str:
    rows = []
    total = sum(c.size for c in topics.clusters) + len(topics.outliers)
    for c in topics.clusters:
        share = f"{c.train / c.size:.0%} / {c.test / c.size:.0%}" if c.size else "–"
        examples = "".join(f"<li>{escape(e)}</li>" for e in c.examples)
        rows.append(
            f"<tr><td class='n'><span class='dot' style='background:{colour(c.cluster)}'></span>{c.cluster}</td>"
            f"<td><b>{escape(c.label)}</b></td><td class='n'>{c.size} ({c.size / total:.0%})</td>"
            f"<td class='n'>{share}</td><td class='n'>{_number(c.mean_score, 2)}</td>"
            f"<td><ul style='margin:0;padding-left:1.1em'>{examples}</ul></td></tr>"
        )
    if topics.outliers:
        rows.append(
            f"<tr><td class='n'><span class='dot' style='background:{NOISE_COLOUR}'></span>–</td><td><i>outliers "
            f"(noise)</i></td><td class='n'>{len(topics.outliers)} ({len(topics.outliers) / total:.0%})</td>"
            "<td></td><td></td><td class='muted'>listed below</td></tr>"
        )
    return (
        "<table><colgroup><col style='width:5em'><col style='width:16em'><col style='width:7em'>"
        "<col style='width:8em'><col style='width:6em'><col></colgroup><tr><th>cluster</th><th>label (top terms)</th>"
        f"<th>samples</th><th>train / test</th><th>mean score</th><th>examples</th></tr>{''.join(rows)}</table>"
    )


def _outliers(topics: TopicMap) -> str:
    if not topics.outliers:
        return ""
    rows = "".join(
        f"<tr><td>{escape(o.split)}</td><td>{escape(o.source)}</td><td>{escape(o.text)}</td>"
        f"<td class='muted'>{escape(o.sample_id[:12])}</td></tr>"
        for o in topics.outliers[:OUTLIERS_SHOWN]
    )
    more = len(topics.outliers) - OUTLIERS_SHOWN
    tail = f"<p class='muted'>and {more} more (all in the exploration artifact)</p>" if more > 0 else ""
    return (
        f"<h2>Outliers <span class='muted'>({len(topics.outliers)} samples in no cluster: often off-corpus "
        "generations)</span></h2><table><colgroup><col style='width:4em'><col style='width:8em'><col>"
        f"<col style='width:8em'></colgroup><tr><th>split</th><th>source</th><th>instruction</th><th>sample</th></tr>"
        f"{rows}</table>{tail}"
    )


def _topic_section(exploration: DatasetExploration) -> str:
    topics = exploration.topic_map
    if topics.status != "clustered":
        kind = "note" if topics.status in ("too_few_samples", "disabled") else "error"
        return f"<h2>Topic map</h2><div class='{kind}'>{escape(topics.message)}</div>"
    vectors = (
        f"{topics.vectors_from_chunks} samples placed by their chunk's vector from Qdrant, {topics.vectors_embedded} "
        "embedded"
    )
    return (
        "<h2>Topic map <span class='muted'>(hover a point for its sample)</span></h2>"
        f"{scatter(topics)}<p class='muted'>{escape(topics.message)}; {vectors}; "
        f"{topics.seconds:.1f} s</p>{_cluster_table(topics)}{_outliers(topics)}"
    )


def _count_table(title: str, counts: list[Count], header: str) -> str:
    if not counts:
        return ""
    peak = max(c.count for c in counts)
    rows = "".join(
        f"<tr><td>{escape(c.name) or '<i>none</i>'}</td><td><span class='bar' "
        f"style='width:{8 * c.count / peak:.1f}em'></span>{c.count}</td></tr>"
        for c in counts
    )
    return f"<div><h2>{title}</h2><table><tr><th>{header}</th><th>samples</th></tr>{rows}</table></div>"


def _lengths(lengths: list[LengthDistribution], tokenizer: str) -> str:
    fields = list(dict.fromkeys(d.field for d in lengths))
    parts = [f"<h2>Token lengths <span class='muted'>(counted by {escape(tokenizer)})</span></h2><div class='grid'>"]
    for field in fields:
        rows = "".join(
            f"<tr><td>{escape(d.group)}</td><td class='n'>{d.samples}</td><td class='n'>{_number(d.histogram.mean)}"
            f"</td><td class='n'>{_number(d.histogram.median)}</td><td class='n'>{_number(d.histogram.maximum, 0)}"
            f"</td><td>{bars(d.histogram)}</td></tr>"
            for d in lengths
            if d.field == field
        )
        parts.append(
            f"<div><h3>{escape(field)}</h3><table><tr><th>samples</th><th>n</th><th>mean</th><th>median</th>"
            f"<th>max</th><th>histogram</th></tr>{rows}</table></div>"
        )
    return "".join(parts) + "</div>"


def _statistics(exploration: DatasetExploration) -> str:
    s = exploration.statistics
    diversity = "".join(
        f"<tr><td>{escape(d.field)}</td><td class='n'>{d.words}</td><td class='n'>{d.vocabulary}</td>"
        f"<td class='n'>{d.distinct_1:.3f}</td><td class='n'>{d.distinct_2:.3f}</td></tr>"
        for d in s.diversity
    )
    parts = [
        _lengths(s.lengths, s.tokenizer),
        "<h2>Vocabulary and distinct-n <span class='muted'>(lowercased words; distinct-n: distinct n-grams / "
        "n-grams)</span></h2><table><tr><th>field</th><th>words</th><th>vocabulary</th><th>distinct-1</th>"
        f"<th>distinct-2</th></tr>{diversity}</table>",
    ]
    if s.chosen_minus_rejected_tokens is not None:
        h = s.chosen_minus_rejected_tokens
        parts.append(
            f"<h2>Chosen vs rejected</h2><p>chosen minus rejected tokens per pair: mean {_number(h.mean)}, median "
            f"{_number(h.median)} {bars(h, 260, 40)} <span class='muted'>(far from 0: the pair differs in length, "
            "which DPO can learn instead of grounding)</span></p>"
        )
    if s.scores:
        rows = "".join(
            f"<tr><td>{escape(d.column)}</td><td class='n'>{d.scored}</td><td class='n'>{_number(d.histogram.mean, 3)}"
            f"</td><td class='n'>{_number(d.histogram.median, 3)}</td><td>{bars(d.histogram, unit='score')}</td></tr>"
            for d in s.scores
        )
        parts.append(
            "<h2>Judge scores</h2><table><tr><th>column</th><th>scored</th><th>mean</th><th>median</th>"
            f"<th>histogram</th></tr>{rows}</table>"
        )
    parts += [
        "<div class='grid'>",
        _count_table("Opening phrases", s.opening_phrases, "first three words"),
        _count_table("Sources", s.sources, "source"),
        _count_table(
            f"Documents <span class='muted'>({s.documents}; the ten with most samples)</span>",
            s.top_documents,
            "document",
        ),
        f"<div><h2>Samples per document</h2>{bars(s.samples_per_document, 260, 50, unit='samples')}</div>",
        "</div>",
    ]
    return "".join(parts)


def render_exploration(exploration: DatasetExploration, review_path: str | None = None) -> str:
    """One dataset version's section: counts, errors, the topic map and clusters, the review sample, statistics."""
    s, topics = exploration.statistics, exploration.topic_map
    cards = [(s.samples, "samples"), *[(c.count, c.name) for c in s.splits], (s.documents, "documents"),
             (len(s.sources), "sources")]  # fmt: skip
    if topics.status == "clustered":
        cards += [(len(topics.clusters), "clusters"), (len(topics.outliers), "outliers")]
    items = "".join(f"<span class='card'><b>{n}</b>{escape(label)}</span>" for n, label in cards)
    errors = "".join(f"<div class='error'>{escape(e)}</div>" for e in exploration.errors)
    strata = len({r.stratum for r in exploration.review_sample})
    where = f" in <code>{escape(review_path)}</code>" if review_path else ""
    review = (
        f"<h2>Review sample</h2><p>{len(exploration.review_sample)} samples from {strata} strata{where}: fill in "
        "<code>verdict</code> (accept / reject) and <code>reason</code>, then <code>llm-engineering review import "
        "FILE</code>; the next feature run leaves the rejected samples out, counted as <code>review: "
        "&lt;reason&gt;</code>.</p>"
        if exploration.review_sample
        else ""
    )
    return (
        f"<h1>{escape(exploration.dataset)} version {escape(exploration.version)}: exploration</h1>"
        f"<div class='cards'>{items}</div>{errors}{_topic_section(exploration)}{review}{_statistics(exploration)}"
        f"<p class='muted'>explored in {exploration.seconds:.1f} s</p>"
    )


def render_exploration_page(sections: list[str]) -> str:
    body = "<hr>".join(sections) or "<p class='muted'>no dataset version was published in this run</p>"
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{STYLE}{EXTRA_STYLE}</head><body>{body}</body></html>"
