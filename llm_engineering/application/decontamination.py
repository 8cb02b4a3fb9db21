"""Decontamination: remove training samples that overlap the evaluation sets.

Three methods, each switchable, run in order (exact, ngram, minhash) on what the previous kept:
- exact: a training text (instruction, answer; prompt, chosen, rejected) equals an eval text after
  normalisation (lowercase, punctuation stripped, whitespace collapsed);
- ngram: a word n-gram (13 by default, normalised) shared with an eval text; eval texts shorter than n
  but at least `min_short_text_words` long must appear whole;
- minhash: estimated Jaccard of word shingles (sample instruction + answer vs eval item) >= threshold.
Removed samples are returned as RemovedSample records (matched = "<eval set>:<0-based item index>").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.minhash import find_similar_pairs
from llm_engineering.application.sample_text import Sample, dedup_text, normalise_text, training_texts
from llm_engineering.domain.config.dataset_quality import DecontaminationConfig, EvalSetConfig
from llm_engineering.domain.samples import RemovedSample

METHODS = ("exact", "ngram", "minhash")


class ContaminationExample(BaseModel):
    sample_id: str
    method: str
    eval_item: int
    sample_text: str
    eval_text: str


class EvalSetReport(BaseModel):
    name: str
    path: str
    items: int
    removed_by_method: dict[str, int]
    examples: list[ContaminationExample]


class DecontaminationReport(BaseModel):
    input_count: int
    kept_count: int
    removed_by_method: dict[str, int]
    eval_sets: list[EvalSetReport]


class EvalItem(BaseModel):
    set_name: str
    index: int
    texts: list[str]

    @property
    def reference(self) -> str:
        return f"{self.set_name}:{self.index}"


def load_eval_items(eval_set: EvalSetConfig) -> list[EvalItem]:
    """The eval set's items with the configured text fields (default: every string field)."""
    records = _read_records(eval_set.path, eval_set.split)
    items = []
    for index, record in enumerate(records):
        if eval_set.text_fields is None:
            texts = [value for value in record.values() if isinstance(value, str)]
        else:
            missing = [field for field in eval_set.text_fields if field not in record]
            if missing:
                raise ValueError(f"eval set {eval_set.name!r} item {index} has no field(s) {missing}")
            texts = [str(record[field]) for field in eval_set.text_fields if record[field] is not None]
        items.append(EvalItem(set_name=eval_set.name, index=index, texts=[text for text in texts if text.strip()]))
    return items


def _read_records(path: Path, split: str | None) -> list[dict]:
    if path.is_dir():
        from datasets import Dataset, DatasetDict, load_from_disk  # heavy import, only for saved datasets

        loaded = load_from_disk(str(path))
        if isinstance(loaded, DatasetDict):
            parts = [loaded[split]] if split else [loaded[name] for name in sorted(loaded)]
        else:
            parts = [loaded] if isinstance(loaded, Dataset) else list(loaded)
        return [record for part in parts for record in part]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> list[dict]:
    """One JSON object per line; a bad line is named by file and line number (validate reports it before any work)."""
    records = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {number}: not valid JSON ({exc})") from exc
                if not isinstance(record, dict):
                    raise ValueError(f"{path} line {number}: not a JSON object (a {type(record).__name__})")
                records.append(record)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return records


def decontaminate(
    samples: Sequence[Sample], config: DecontaminationConfig
) -> tuple[list[Sample], list[RemovedSample], DecontaminationReport]:
    """Kept samples (input order), removed ones naming the eval item they overlap, and the report."""
    eval_sets = [(eval_set, load_eval_items(eval_set)) for eval_set in config.eval_sets]
    items = [item for _, set_items in eval_sets for item in set_items]
    alive = list(range(len(samples)))
    matches: dict[int, tuple[str, EvalItem]] = {}  # sample index -> (method, first eval item it matched)
    removed_by_method = {}
    for method in METHODS:
        if not getattr(config, method).enabled:
            continue
        found = _MATCHERS[method]([samples[index] for index in alive], items, config)
        for local_index, item in found.items():
            matches[alive[local_index]] = (method, item)
        removed_by_method[method] = len(found)
        alive = [index for local_index, index in enumerate(alive) if local_index not in found]

    removed = []
    per_set = {
        eval_set.name: EvalSetReport(
            name=eval_set.name,
            path=str(eval_set.path),
            items=len(set_items),
            removed_by_method=dict.fromkeys(removed_by_method, 0),
            examples=[],
        )
        for eval_set, set_items in eval_sets
    }
    for index in sorted(matches):
        method, item = matches[index]
        sample = samples[index]
        removed.append(
            RemovedSample(
                sample_id=sample.sample_id,
                stage=f"decontamination:{method}",
                reason=f"{method} overlap with eval set {item.set_name!r} item {item.index}",
                matched=item.reference,
                text=dedup_text(sample),
            )
        )
        report = per_set[item.set_name]
        report.removed_by_method[method] += 1
        if len(report.examples) < config.max_examples:
            report.examples.append(
                ContaminationExample(
                    sample_id=sample.sample_id,
                    method=method,
                    eval_item=item.index,
                    sample_text=dedup_text(sample)[:500],
                    eval_text="\n".join(item.texts)[:500],
                )
            )
    kept = [samples[index] for index in alive]
    report = DecontaminationReport(
        input_count=len(samples),
        kept_count=len(kept),
        removed_by_method=removed_by_method,
        eval_sets=list(per_set.values()),
    )
    return kept, removed, report


def exact_matches(
    samples: Sequence[Sample], items: list[EvalItem], _config: DecontaminationConfig
) -> dict[int, EvalItem]:
    """sample index -> first eval item with a text equal (after normalisation) to one of its training texts."""
    owner: dict[str, EvalItem] = {}
    for item in items:
        for text in item.texts:
            owner.setdefault(normalise_text(text), item)
    owner.pop("", None)
    found = {}
    for index, sample in enumerate(samples):
        for text in training_texts(sample):
            item = owner.get(normalise_text(text))
            if item is not None:
                found[index] = item
                break
    return found


def ngram_matches(
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig
) -> dict[int, EvalItem]:
    """sample index -> first eval item sharing a word n-gram (or a whole short eval text) with it."""
    n, shortest = config.ngram.n, config.ngram.min_short_text_words
    owner: dict[tuple[str, ...], EvalItem] = {}
    lengths = set()  # gram lengths to look for in samples: n, plus the lengths of short eval texts
    for item in items:
        for text in item.texts:
            words = normalise_text(text).split()
            size = n if len(words) >= n else len(words)
            if size < min(n, shortest):
                continue
            lengths.add(size)
            for start in range(len(words) - size + 1):
                owner.setdefault(tuple(words[start : start + size]), item)
    found = {}
    for index, sample in enumerate(samples):
        item = _first_shared_gram(sample, owner, lengths)
        if item is not None:
            found[index] = item
    return found


def _first_shared_gram(sample: Sample, owner: dict[tuple[str, ...], EvalItem], lengths: set[int]) -> EvalItem | None:
    for text in training_texts(sample):  # per text: an n-gram never spans instruction and answer
        words = normalise_text(text).split()
        for size in sorted(lengths):
            for start in range(len(words) - size + 1):
                item = owner.get(tuple(words[start : start + size]))
                if item is not None:
                    return item
    return None


def minhash_matches(
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig
) -> dict[int, EvalItem]:
    """sample index -> the most similar eval item with estimated shingle Jaccard >= threshold."""
    if not samples or not items:
        return {}
    texts = ["\n".join(item.texts) for item in items] + [dedup_text(sample) for sample in samples]
    pairs = find_similar_pairs(texts, config.minhash)
    boundary = len(items)
    crossing = (pairs.left < boundary) & (pairs.right >= boundary)  # eval items come first in `texts`
    best: dict[int, tuple[float, int]] = {}
    for item_index, text_index, similarity in zip(
        pairs.left[crossing].tolist(), pairs.right[crossing].tolist(), pairs.similarity[crossing].tolist(), strict=True
    ):
        sample_index = text_index - boundary
        if sample_index not in best or similarity > best[sample_index][0]:
            best[sample_index] = (similarity, item_index)
    return {sample_index: items[item_index] for sample_index, (_, item_index) in sorted(best.items())}


_MATCHERS = {"exact": exact_matches, "ngram": ngram_matches, "minhash": minhash_matches}
