"""An HTML report of a dataset version for the ZenML dashboard: counts per stage, length
histograms and a few samples. Plain HTML with CSS bars: no plotting library, renders anywhere."""

from __future__ import annotations

from html import escape
from statistics import mean, median

from datasets import DatasetDict

from llm_engineering.application.sample_text import ends_mid_sentence
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.samples import CurationReport

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.bar{background:#4a7bd0;height:.9em;display:inline-block}.sample{max-width:60em;white-space:pre-wrap}
</style>"""


def _histogram(lengths: list[int], bins: int = 10) -> str:
    if not lengths:
        return "<p>no samples</p>"
    low, high = min(lengths), max(lengths)
    width = max((high - low) / bins, 1)
    counts = [0] * bins
    for length in lengths:
        counts[min(int((length - low) / width), bins - 1)] += 1
    peak = max(counts)
    rows = "".join(
        f"<tr><td>{int(low + i * width)}–{int(low + (i + 1) * width)}</td>"
        f"<td><span class='bar' style='width:{20 * c / peak:.1f}em'></span> {c}</td></tr>"
        for i, c in enumerate(counts)
    )
    return f"<table><tr><th>words</th><th>samples</th></tr>{rows}</table>"


def render_page(sections: list[str]) -> str:
    return f"<html><head>{STYLE}</head><body>{''.join(sections)}</body></html>"


def render_dataset_report(report: CurationReport, dataset: DatasetDict, kind: str, max_samples: int = 3) -> str:
    """One dataset's section of the report page."""
    answer_field = "answer" if kind == "instruction" else "chosen"
    prompt_field = "instruction" if kind == "instruction" else "prompt"
    stages = "".join(
        f"<tr><td>{escape(s.stage)}</td><td>{s.samples_in}</td><td>{s.samples_out}</td>"
        f"<td>{escape(', '.join(f'{k}: {v}' for k, v in s.removed_by_reason.items()))}</td></tr>"
        for s in report.stages
    )
    parts = [
        f"<h1>{escape(report.dataset)}</h1>",
        f"<p>train <b>{report.train}</b> · test <b>{report.test}</b> · previous version "
        f"{report.previous_version_samples} · new {report.new_samples} · generation failures "
        f"{report.generation_failures}</p>",
        "<h2>Stages</h2><table><tr><th>stage</th><th>in</th><th>out</th><th>removed</th></tr>",
        stages,
        "</table>",
    ]
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
    if report.usage:
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in report.usage.items())
        parts.append(f"<h2>LLM usage</h2><table>{rows}</table>")
    for split in dataset:
        lengths = [len(text.split()) for text in dataset[split][answer_field]]
        parts.append(f"<h2>{split}: {answer_field} length</h2>{_histogram(lengths)}")
    train = dataset.get("train", None)
    if train is not None and len(train):
        parts.append("<h2>Samples</h2>")
        for row in train.select(range(min(max_samples, len(train)))):
            parts.append(
                f"<div class='sample'><b>{escape(row[prompt_field])}</b>\n{escape(row[answer_field])}"
                + (f"\n<i>rejected:</i> {escape(row['rejected'])}" if kind == "preference" else "")
                + "</div><hr>"
            )
    return "".join(parts)


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
