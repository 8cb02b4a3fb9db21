"""What each feature-pipeline artifact says about itself: counts (ZenML metadata) and a markdown
report (the dashboard's visualization). One function per artifact type, used by both."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel

from llm_engineering.domain.documents import (
    Chunks,
    CleanedDocuments,
    CrawlFailure,
    EmbeddingSummary,
    RawDocuments,
    SkippedItem,
)
from llm_engineering.domain.samples import (
    CuratedInstructions,
    CuratedPreferences,
    DatasetPublication,
    FailedGeneration,
    GeneratedInstructions,
    GeneratedPreferences,
    RemovedSamples,
)

MAX_ROWS = 50


def _reasons(items: list[SkippedItem] | list[CrawlFailure]) -> dict[str, int]:
    return dict(Counter(item.reason for item in items).most_common())


def summarize(data: BaseModel) -> dict[str, Any]:
    if isinstance(data, RawDocuments):
        return {
            "documents": len(data.documents),
            "documents_per_source": dict(Counter(d.source for d in data.documents)),
            "characters": sum(len(d.content) for d in data.documents),
            "failed": len(data.failures),
            "failed_by_reason": _reasons(data.failures),
            "failures": [f"{f.location}: {f.reason}" for f in data.failures[:MAX_ROWS]],
            "skipped": len(data.skipped),
            "skipped_by_reason": _reasons(data.skipped),
            "not_modified": data.not_modified,
        }
    if isinstance(data, CleanedDocuments):
        redactions: Counter[str] = Counter()
        for document in data.documents:
            redactions.update(document.redactions)
        return {
            "documents": len(data.documents),
            "documents_per_source": dict(Counter(d.source for d in data.documents)),
            "characters": sum(len(d.text) for d in data.documents),
            "dropped": len(data.dropped),
            "dropped_by_reason": _reasons(data.dropped),
            "redactions": dict(redactions),
            "repeated_lines_dropped": len(data.repeated_lines),
        }
    if isinstance(data, Chunks):
        tokens = [c.token_count for c in data.chunks]
        return {
            "chunks": len(data.chunks),
            "chunks_per_source": dict(Counter(c.source for c in data.chunks)),
            "documents": len({c.document_id for c in data.chunks}),
            "tokens": sum(tokens),
            "max_tokens": max(tokens, default=0),
            "mean_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0,
        }
    if isinstance(data, EmbeddingSummary):
        return data.model_dump(exclude={"embedded_chunk_ids"})
    if isinstance(data, (GeneratedInstructions, GeneratedPreferences)):
        summary = {
            "samples": len(data.samples),
            "failed": len(data.failures),
            "failed_by_reason": dict(Counter(f.kind for f in data.failures).most_common()),
            "failure_examples": _failure_examples(data.failures),
            "dropped": len(data.dropped),
            "dropped_by_reason": dict(Counter(r.reason for r in data.dropped)),
            **{f"llm_{k}": v for k, v in (data.usage.model_dump(exclude_none=True) if data.usage else {}).items()},
        }
        if isinstance(data, GeneratedInstructions):
            summary["extracts"] = data.extracts
        else:
            summary["answers_generated"] = data.answers_generated
            summary["answers_truncated"] = data.answers_truncated
        return summary
    if isinstance(data, (CuratedInstructions, CuratedPreferences)):
        return {
            "samples": len(data.samples),
            "removed": len(data.removed),
            "removed_by_stage": dict(Counter(r.stage for r in data.removed)),
            "stages": [f"{s.stage}: {s.samples_in} -> {s.samples_out}" for s in data.report.stages],
            **_evolution_counts(data),
        }
    if isinstance(data, RemovedSamples):
        return {"samples": len(data.samples), "by_stage": dict(Counter(r.stage for r in data.samples))}
    if isinstance(data, DatasetPublication):
        return {
            "published_versions": sum(d.status == "published" for d in data.datasets),
            **{f"{d.name}": (f"version {d.version}" if d.version else d.status) for d in data.datasets},
            **{f"{d.name}_new_samples": d.new_samples for d in data.datasets},
            "published": data.describe(),
        }
    raise TypeError(f"no summary for {type(data).__name__}")


def _failure_examples(failures: list[FailedGeneration], kinds: int = 3) -> list[str]:
    """The first error of each of the most common kinds, verbatim (cut at 500 characters): what the run summary shows
    under the counts."""
    first: dict[str, FailedGeneration] = {}
    for failure in failures:
        first.setdefault(failure.kind, failure)
    ranked = [kind for kind, _ in Counter(f.kind for f in failures).most_common(kinds)]
    return [_example(first[kind]) for kind in ranked]


def _example(failure: FailedGeneration) -> str:
    text = failure.error if not failure.raw_output else f"{failure.error}; raw output: {failure.raw_output!r}"
    return text if len(text) <= 500 else text[:497] + "..."


def _evolution_counts(data: CuratedInstructions | CuratedPreferences) -> dict[str, Any]:
    """evol_instruct stages: evolutions asked for, added, and eliminated by reason (none: no such stage ran)."""
    reports = [r for r in data.report.evolution.values() if r.skipped is None]
    if not reports:
        return {}
    eliminated: Counter[str] = Counter()
    for report in reports:
        eliminated.update(report.eliminated_by_reason)
    return {
        "evolutions_attempted": sum(r.attempted for r in reports),
        "evolved_samples_added": sum(r.kept for r in reports),
        "evolutions_eliminated_by_reason": dict(eliminated),
    }


def render_markdown(data: BaseModel) -> str:
    summary = summarize(data)
    lines = [f"# {type(data).__name__}", "", "| metric | value |", "|---|---|"]
    for key, value in summary.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"| {key} | {value} |")
    for key, value in summary.items():
        if isinstance(value, dict) and value:
            lines += ["", f"## {key.replace('_', ' ')}", "", "| | count |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in value.items()]
    if isinstance(data, RawDocuments) and data.failures:
        lines += ["", "## failures", "", "| location | reason | attempts |", "|---|---|---|"]
        lines += [f"| {f.location} | {f.reason} | {f.attempts} |" for f in data.failures[:MAX_ROWS]]
    if isinstance(data, (RawDocuments, CleanedDocuments)):
        documents = data.documents
        lines += ["", "## documents", "", "| source | location | title | author |", "|---|---|---|---|"]
        lines += [f"| {d.source} | {d.location} | {d.title or ''} | {d.author or ''} |" for d in documents[:MAX_ROWS]]
    if isinstance(data, (RemovedSamples, CuratedInstructions, CuratedPreferences)):
        removed = data.samples if isinstance(data, RemovedSamples) else data.removed
        lines += ["", "## removed samples", "", "| sample | stage | reason | matched |", "|---|---|---|---|"]
        lines += [f"| {r.sample_id[:12]} | {r.stage} | {r.reason} | {r.matched or ''} |" for r in removed[:MAX_ROWS]]
    if isinstance(data, (GeneratedInstructions, GeneratedPreferences)) and data.dropped:
        lines += ["", "## dropped at generation", "", "| sample | reason | text |", "|---|---|---|"]
        lines += [
            f"| {r.sample_id[:12]} | {r.reason} | {r.text[:120].replace('|', '/').replace(chr(10), ' ')} |"
            for r in data.dropped[:MAX_ROWS]
        ]
    if isinstance(data, (GeneratedInstructions, GeneratedPreferences)) and data.failures:
        lines += ["", "## failed generations", "", "| chunk | cause | error | raw output |", "|---|---|---|---|"]
        lines += [
            f"| {f.chunk_id[:12]} | {_cell(f.kind)} | {_cell(f.error)} | {_cell(f.raw_output[:300])} |"
            for f in data.failures[:MAX_ROWS]
        ]
    if isinstance(data, Chunks) and data.chunks:
        lines += ["", "## first chunks", ""]
        for chunk in data.chunks[:3]:
            lines += [
                f"**{chunk.location} #{chunk.chunk_index}** ({chunk.token_count} tokens)",
                "",
                "```text",
                chunk.text[:800],
                "```",
                "",
            ]
    return "\n".join(lines).replace("\n| ", "\n| ")


def _cell(text: str) -> str:
    """Text in one markdown table cell: its pipes and line breaks would end the cell or the row."""
    return text.replace("|", "/").replace("\n", " ")
