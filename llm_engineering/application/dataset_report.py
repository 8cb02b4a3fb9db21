"""An HTML report of a dataset version for the ZenML dashboard: counts, a sample table, the curation stages, length
histograms. Plain HTML and CSS (no script: the dashboard shows HTML in a sandboxed frame 384 px high, as wide as the
page), so the numbers that matter come first, tables take the frame's width and wrap, texts keep their line breaks and
a long one folds into a <details> that opens on click."""

from __future__ import annotations

from html import escape
from statistics import mean, median

from datasets import DatasetDict

from llm_engineering.application.sample_text import ends_mid_sentence
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.samples import CurationReport

STYLE = """<style>
*{box-sizing:border-box}
body{font:13px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:.75em 1em;color:#1f2328}
h1{font-size:1.25em;margin:.2em 0 .5em}h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%;margin:.3em 0 1em}
td,th{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f8fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:.5em;margin:.2em 0 .8em}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.3em .7em;background:#f6f8fa}
.card b{font-size:1.2em;margin-right:.25em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22em,1fr));gap:0 1.5em}
.bar{background:#4a7bd0;height:.8em;display:inline-block;vertical-align:middle;margin-right:.3em}
.samples{table-layout:fixed}.samples td{white-space:pre-wrap}
summary{cursor:pointer;white-space:pre-wrap;list-style:none}summary::-webkit-details-marker{display:none}
.more{color:#0969da}details[open] summary .more{display:none}
.muted{color:#656d76}
</style>"""

TEXT_PREVIEW = 200  # characters of a sample text shown before it folds


def _histogram(lengths: list[int], bins: int = 10) -> str:
    if not lengths:
        return "<p class='muted'>no samples</p>"
    low, high = min(lengths), max(lengths)
    width = max((high - low) / bins, 1)
    counts = [0] * bins
    for length in lengths:
        counts[min(int((length - low) / width), bins - 1)] += 1
    peak = max(counts)
    rows = "".join(
        f"<tr><td class='n'>{int(low + i * width)}–{int(low + (i + 1) * width)}</td>"
        f"<td><span class='bar' style='width:{12 * c / peak:.1f}em'></span>{c}</td></tr>"
        for i, c in enumerate(counts)
        if c or i == 0
    )
    return f"<table><tr><th style='width:7em'>words</th><th>samples</th></tr>{rows}</table>"


def render_page(sections: list[str]) -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{STYLE}</head><body>{'<hr>'.join(sections)}</body></html>"


def _text(value: object) -> str:
    """A sample text as the model sees it: line breaks kept (pre-wrap); past TEXT_PREVIEW characters it folds."""
    text = "" if value is None else str(value)
    if len(text) <= TEXT_PREVIEW:
        return escape(text)
    cut = text.rfind(" ", 0, TEXT_PREVIEW)
    cut = cut if cut > TEXT_PREVIEW // 2 else TEXT_PREVIEW
    return (
        f"<details><summary>{escape(text[:cut])}<span class='more'> … show all {len(text)} characters</span>"
        f"</summary>{escape(text[cut:])}</details>"
    )


def dataset_kind(dataset: DatasetDict) -> str:
    """`preference` when the splits have chosen/rejected columns, else `instruction`."""
    columns = {column for split in dataset.values() for column in split.column_names}
    return "preference" if {"chosen", "rejected"} <= columns else "instruction"


def _sample_table(dataset: DatasetDict, kind: str, per_split: int) -> str:
    fields = ["prompt", "chosen", "rejected"] if kind == "preference" else ["instruction", "answer"]
    header = "".join(f"<th>{field}</th>" for field in fields)
    rows = []
    for split in dataset:
        table = dataset[split]
        for index in range(min(per_split, len(table))):
            row = table[index]
            cells = "".join(f"<td>{_text(row.get(field))}</td>" for field in fields)
            source = escape(str(row.get("source") or ""))
            rows.append(f"<tr><td class='n'>{escape(split)} {index}</td>{cells}<td>{source}</td></tr>")
    if not rows:
        return "<h2>Samples</h2><p class='muted'>no samples</p>"
    widths = "<col style='width:5.5em'>" + "<col>" * len(fields) + "<col style='width:7em'>"
    shown = f"the first {per_split} of each split" if per_split else ""
    return (
        f"<h2>Samples <span class='muted'>({shown})</span></h2><table class='samples'><colgroup>{widths}</colgroup>"
        f"<tr><th>row</th>{header}<th>source</th></tr>{''.join(rows)}</table>"
    )


def _cards(report: CurationReport | None, dataset: DatasetDict) -> str:
    cards = [(len(dataset[split]), split) for split in dataset]
    if report is not None:
        cards += [(report.new_samples, "new in this version"), (report.previous_version_samples, "from the previous")]
        if report.generation_failures:
            cards.append((report.generation_failures, "generation failures"))
    items = "".join(f"<span class='card'><b>{n}</b>{escape(label)}</span>" for n, label in cards)
    return f"<div class='cards'>{items}</div>"


def render_dataset_report(
    report: CurationReport | None, dataset: DatasetDict, kind: str | None = None, max_samples: int = 3
) -> str:
    """One dataset's section of the report page: counts, samples, the curation stages and what they removed, lengths.
    Without a report (a dataset saved outside the feature pipeline), what the rows alone tell."""
    kind = kind or dataset_kind(dataset)
    answer_field = "answer" if kind == "instruction" else "chosen"
    columns = sorted({column for split in dataset.values() for column in split.column_names})
    name = report.dataset if report is not None else f"{kind} dataset"
    parts = [
        f"<h1>{escape(name)}</h1>",
        _cards(report, dataset),
        _sample_table(dataset, kind, max_samples),
    ]
    if report is not None:
        stages = "".join(
            f"<tr><td>{escape(s.stage)}</td><td class='n'>{s.samples_in}</td><td class='n'>{s.samples_out}</td>"
            f"<td>{escape(', '.join(f'{k}: {v}' for k, v in s.removed_by_reason.items()))}</td></tr>"
            for s in report.stages
        )
        parts += [
            "<h2>Curation stages</h2><table><tr><th>stage</th><th style='width:5em'>in</th><th style='width:5em'>out"
            "</th><th>removed</th></tr>",
            stages or "<tr><td colspan='4' class='muted'>no stage ran</td></tr>",
            "</table>",
        ]
    parts.append("<div class='grid'>")
    for split in dataset:
        lengths = [len(text.split()) for text in dataset[split][answer_field]] if len(dataset[split]) else []
        parts.append(f"<div><h2>{split}: {answer_field} length</h2>{_histogram(lengths)}</div>")
    parts.append("</div>")
    if report is not None:
        parts += _report_sections(report, dataset, kind)
    parts.append(f"<p class='muted'>columns: {escape(', '.join(columns))}</p>")
    return "".join(parts)


def _report_sections(report: CurationReport, dataset: DatasetDict, kind: str) -> list[str]:
    parts = []
    if report.failures_by_reason:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in report.failures_by_reason.items())
        parts.append(f"<h2>Generation failures</h2><table>{rows}</table>")
    if report.dropped_at_generation:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in report.dropped_at_generation.items())
        parts.append(f"<h2>Dropped at generation</h2><table>{rows}</table>")
    if kind == "preference":
        parts.append(_chosen_vs_rejected(report, dataset))
    if report.decontamination:
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td>{escape(', '.join(f'{k}: {v}' for k, v in counts.items()))}</td></tr>"
            for name, counts in report.decontamination.items()
        )
        parts.append(f"<h2>Decontamination</h2><table><tr><th>eval set</th><th>removed</th></tr>{rows}</table>")
    for stage, jury in report.judges.items():
        parts.append(_jury(stage, jury))
    parts.append(_evolution(report, dataset))
    if report.usage is not None:  # a local model has no concurrency: its None fields are left out
        used = report.usage.model_dump(exclude_none=True).items()
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in used)
        parts.append(f"<h2>LLM usage</h2><table>{rows}</table>")
    return parts


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _jury(stage: str, jury: JuryReport) -> str:
    """Each member's count, mean score, unjudged reasons and cost; the agreement between them."""
    rows = "".join(
        f"<tr><td>{escape(m.name)}</td><td>{escape(m.kind)}</td><td>{m.judged}</td>"
        f"<td>{escape(', '.join(f'{k}: {v}' for k, v in m.unjudged_by_reason.items()) or '0')}</td>"
        f"<td>{_number(m.mean_score)}</td><td>{m.calls} ({m.cached} cached)</td>"
        f"<td>{m.prompt_tokens} / {m.completion_tokens}</td><td>${m.cost_per_1k_samples_usd:.4f}</td>"
        f"<td>{m.seconds:.1f}</td></tr>"
        for m in jury.members
    )
    pairs = ", ".join(f"{escape(k)}: {_number(v, 2)}" for k, v in jury.pairwise_spearman.items())
    agreement = (
        f"<p>agreement: Krippendorff's alpha {_number(jury.krippendorff_alpha, 2)} · Spearman {pairs}</p>"
        if len(jury.members) > 1
        else ""
    )
    return (
        f"<h2>Judges: {escape(stage)}</h2><p>{jury.aggregate} of {len(jury.members)} member(s): {jury.judged} of "
        f"{jury.samples} answers judged, {jury.unjudged} unjudged, mean score {_number(jury.mean_score)}</p>"
        "<table><tr><th>member</th><th>kind</th><th>judged</th><th>unjudged</th><th>mean score</th><th>calls</th>"
        f"<th>tokens in / out</th><th>cost per 1k answers</th><th>seconds</th></tr>{rows}</table>{agreement}"
    )


def _evolution(report: CurationReport, dataset: DatasetDict) -> str:
    """Each evol_instruct stage: evolutions per mutation, kept vs eliminated by reason, what the calls cost, and a few
    parent -> child examples; then the evolved samples this version holds per mutation (after the later stages)."""
    parts = []
    for stage, evolution in report.evolution.items():
        parts.append(f"<h2>Evolution: {escape(stage)}</h2>")
        if evolution.skipped is not None:
            parts.append(f"<p>{evolution.samples} received, none evolved: {escape(evolution.skipped)}</p>")
            continue
        parts.append(
            f"<p>{evolution.chosen} of {evolution.samples} samples evolved over {evolution.rounds} round(s): "
            f"{evolution.attempted} evolutions, <b>{evolution.kept}</b> kept and added, "
            f"{evolution.attempted - evolution.kept} eliminated · {evolution.calls} calls ({evolution.cached} cached, "
            f"{evolution.failed_calls} failed) · tokens {evolution.prompt_tokens} / {evolution.completion_tokens} · "
            f"${evolution.cost_usd:.4f}</p>"
        )
        rows = "".join(
            f"<tr><td>{escape(mutation)}</td><td>{c.attempted}</td><td>{c.kept}</td>"
            f"<td>{escape(', '.join(f'{k}: {v}' for k, v in c.eliminated_by_reason.items()) or '0')}</td></tr>"
            for mutation, c in evolution.by_mutation.items()
        )
        parts.append(
            f"<table><tr><th>mutation</th><th>attempted</th><th>kept</th><th>eliminated</th></tr>{rows}</table>"
        )
        examples = "".join(
            f"<tr><td>{escape(e.mutation)} ({e.round})</td><td style='white-space:pre-wrap'>"
            f"{escape(e.parent_instruction)}\n→ <b>{escape(e.instruction)}</b></td>"
            f"<td style='white-space:pre-wrap'>{escape(e.answer)}</td></tr>"
            for e in evolution.examples
        )
        if examples:
            parts.append(
                "<table><tr><th>mutation (round)</th><th>parent → evolved instruction</th><th>answer</th></tr>"
                f"{examples}</table>"
            )
    columns = {column for split in dataset for column in dataset[split].column_names}
    mutations = [m for split in dataset for m in dataset[split]["mutation"]] if "mutation" in columns else []
    evolved = {m: mutations.count(m) for m in dict.fromkeys(m for m in mutations if m)}
    if evolved:
        rows = "".join(f"<tr><td>{escape(m)}</td><td>{n}</td></tr>" for m, n in evolved.items())
        parts.append(
            f"<h3>Evolved samples in this version</h3><p>{sum(evolved.values())} of {len(mutations)} samples, after "
            f"the stages that followed</p><table><tr><th>mutation</th><th>samples</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _chosen_vs_rejected(report: CurationReport, dataset: DatasetDict) -> str:
    """Length and completeness of each side over the whole version: a side much longer, or more often cut off, than
    the other teaches DPO that difference instead of grounding."""
    rows = []
    for side in ("chosen", "rejected"):
        texts = [text for split in dataset for text in dataset[split][side]]
        words = [len(text.split()) for text in texts]
        cut = sum(ends_mid_sentence(text) for text in texts)
        share = f"{cut} ({cut / len(texts):.0%})" if texts else "0"
        rows.append(
            f"<tr><td>{side}</td><td>{len(texts)}</td><td>{mean(words) if words else 0:.1f}</td>"
            f"<td>{median(words) if words else 0:.1f}</td><td>{share}</td></tr>"
        )
    generated = report.answers_generated
    budget = (
        f"<p>this run generated {generated} answers, {report.answers_truncated} "
        f"({report.answers_truncated / generated:.0%}) cut off by the token budget; a pair is kept only with "
        "complete answers</p>"
        if generated
        else ""
    )
    return (
        "<h2>Chosen vs rejected</h2><table><tr><th></th><th>answers</th><th>mean words</th><th>median words</th>"
        f"<th>ends mid-sentence</th></tr>{''.join(rows)}</table>{budget}"
    )
