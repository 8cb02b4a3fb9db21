"""The stratified review sample and its verdicts.

Export: `per_stratum` samples of each cluster (of each source when there is no topic map; noise points count as
their own stratum, since outliers are often off-corpus generations), drawn with a fixed seed, as a CSV with empty
`verdict` and `reason` columns. Import: the filled-in CSV becomes `ReviewVerdict`s; a verdict is `accept`, `reject`
or empty (not reviewed). Removal: the next dataset version leaves out the rejected samples, each a `RemovedSample` of
stage `review` with reason `review: <the reviewer's reason>`, counted in that version's curation report."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm_engineering.domain.exploration import ReviewRow, ReviewVerdict, TopicMap
from llm_engineering.domain.samples import RemovedSample, StageCount

REVIEW_STAGE = "review"
COLUMNS = list(ReviewRow.model_fields)
REQUIRED_COLUMNS = ("dataset", "version", "sample_id", "verdict", "reason")
VERDICTS = {"accept": "accept", "accepted": "accept", "ok": "accept", "reject": "reject", "rejected": "reject"}


class ReviewFileError(ValueError):
    """A reviewed CSV that cannot be read: the message names the file, the row and what to write instead."""


def _stratum(topic_map: TopicMap, sample_id: str, source: str, labels: dict[int, str]) -> str:
    if topic_map.status != "clustered":
        return f"source: {source}"
    cluster = topic_map.cluster_of().get(sample_id, -1)
    return "outliers" if cluster == -1 else f"cluster {cluster}: {labels.get(cluster, '')}"


def review_sample(
    rows: Sequence[dict[str, Any]], kind: str, dataset: str, version: str, topic_map: TopicMap, per_stratum: int,
    seed: int,
) -> list[ReviewRow]:  # fmt: skip
    """`per_stratum` samples of each stratum (all of a smaller one), strata in order of size, each sample once."""
    if per_stratum <= 0:
        return []
    labels = {c.cluster: c.label for c in topic_map.clusters}
    strata: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = _stratum(topic_map, str(row["sample_id"]), str(row.get("source") or ""), labels)
        strata.setdefault(key, []).append(row)
    rng = random.Random(seed)
    sample = []
    for key, members in sorted(strata.items(), key=lambda item: (-len(item[1]), item[0])):
        for row in rng.sample(members, min(per_stratum, len(members))):
            first, second = ("prompt", "chosen") if kind == "preference" else ("instruction", "answer")
            sample.append(
                ReviewRow(
                    dataset=dataset,
                    version=version,
                    sample_id=str(row["sample_id"]),
                    split=str(row.get("split")),
                    stratum=key,
                    source=str(row.get("source") or ""),
                    instruction=str(row.get(first) or ""),
                    answer=str(row.get(second) or ""),
                    rejected=str(row.get("rejected") or ""),
                )
            )
    return sample


def review_csv_text(rows: Sequence[ReviewRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(row.model_dump() for row in rows)
    return buffer.getvalue()


def write_review_csv(rows: Sequence[ReviewRow], path: Path) -> Path:
    """UTF-8 with a byte-order mark, so a spreadsheet opens it with its accents intact; reads back with read_review."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(review_csv_text(rows), encoding="utf-8-sig", newline="")
    return path


def read_review(path: Path) -> list[ReviewVerdict]:
    """The rows with a verdict; rows left empty were not reviewed and are skipped."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ReviewFileError(
                    f"{path}: not a review sample (no {', '.join(missing)} column): review the CSV that "
                    "`llm-engineering explore` or the feature run wrote, keeping its columns"
                )
            rows = list(reader)
    except OSError as exc:
        raise ReviewFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    verdicts = []
    for line, row in enumerate(rows, start=2):
        given = (row.get("verdict") or "").strip().lower()
        if not given:
            continue
        if given not in VERDICTS:
            raise ReviewFileError(
                f"{path}, line {line} (sample {row.get('sample_id')}): verdict {row.get('verdict')!r} is not accept "
                "or reject (leave it empty for a sample not reviewed)"
            )
        verdicts.append(
            ReviewVerdict(dataset=row["dataset"], version=row["version"], sample_id=row["sample_id"],
                          verdict=VERDICTS[given], reason=(row.get("reason") or "").strip())  # type: ignore[arg-type]
        )  # fmt: skip
    return verdicts


def removal_reason(reason: str) -> str:
    return f"{REVIEW_STAGE}: {reason or 'rejected'}"


def remove_rejected(
    samples: Sequence[Any], rejected: dict[str, str], text_field: str
) -> tuple[list[Any], list[RemovedSample], StageCount | None]:
    """The samples without the rejected ones, each removal with its reason; None when nothing was removed, so a
    version the review does not touch shows no review stage."""
    kept = [s for s in samples if s.sample_id not in rejected]
    removed = [
        RemovedSample(
            sample_id=s.sample_id,
            stage=REVIEW_STAGE,
            reason=removal_reason(rejected[s.sample_id]),
            text=str(getattr(s, text_field, "")),
        )
        for s in samples
        if s.sample_id in rejected
    ]
    if not removed:
        return kept, [], None
    by_reason = dict(Counter(r.reason for r in removed))
    return kept, removed, StageCount(stage=REVIEW_STAGE, samples_in=len(samples), samples_out=len(kept),
                                     removed_by_reason=by_reason)  # fmt: skip
