"""Decontamination: remove training samples that overlap the evaluation sets.

Five methods, each switchable, run in order (exact, ngram, minhash, paraphrase_minhash, embedding) on what the
previous kept:
- exact: a training text (instruction, answer; prompt, chosen, rejected) equals an eval text after
  normalisation (lowercase, punctuation stripped, whitespace collapsed); score 1.0;
- ngram: a word n-gram (13 by default, normalised) shared with an eval text; eval texts shorter than n
  but at least `min_short_text_words` long must appear whole; score: the share of the matched eval item's
  n-grams found in the sample;
- minhash: estimated Jaccard of 5-word shingles (sample instruction + answer vs eval item) >= threshold;
- paraphrase_minhash: the same with 1-word shingles (word sets): reordered sentences, dropped words;
- embedding: cosine of the curation embedder's vectors (training texts vs eval texts, or whole vs whole) >= threshold;
  off by default, needs the `embed` function.
MinHash and embedding compare samples with eval items only (never samples with each other), so cost grows with
samples x eval items, and the score is the best match's similarity.
Removed samples are returned as RemovedSample records (matched = "<eval set>:<0-based item index>", score as above).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rensa
from pydantic import BaseModel

from llm_engineering.application.minhash import estimated_jaccard, shingle_hashes
from llm_engineering.application.sample_text import Sample, dedup_text, normalise_text, training_texts
from llm_engineering.domain.config.dataset_quality import (
    DecontaminationConfig,
    EmbeddingContaminationConfig,
    EvalSetConfig,
    MinHashConfig,
)
from llm_engineering.domain.samples import RemovedSample

METHODS = ("exact", "ngram", "minhash", "paraphrase_minhash", "embedding")
SCORED_METHODS = ("minhash", "paraphrase_minhash", "embedding")  # a similarity threshold: the reason shows the score
EmbedFunction = Callable[[list[str]], np.ndarray]


class ContaminationExample(BaseModel):
    sample_id: str
    method: str
    eval_item: int
    score: float | None = None
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


@dataclass(frozen=True)
class Match:
    """The eval item a sample overlaps and what the method measured (see the module docstring)."""

    item: EvalItem
    score: float


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
    samples: Sequence[Sample], config: DecontaminationConfig, embed: EmbedFunction | None = None
) -> tuple[list[Sample], list[RemovedSample], DecontaminationReport]:
    """Kept samples (input order), removed ones naming the eval item they overlap, and the report.

    `embed` (e.g. `Embedder().encode`, the curation embedder) is needed only when `embedding` is enabled.
    """
    if config.embedding.enabled and embed is None:
        raise ValueError("decontamination embedding is enabled but no embed function was given")
    eval_sets = [(eval_set, load_eval_items(eval_set)) for eval_set in config.eval_sets]
    items = [item for _, set_items in eval_sets for item in set_items]
    alive = list(range(len(samples)))
    matches: dict[int, tuple[str, Match]] = {}  # sample index -> (method, the eval item it matched)
    removed_by_method = {}
    for method in METHODS:
        if not getattr(config, method).enabled:
            continue
        found = _MATCHERS[method]([samples[index] for index in alive], items, config, embed)
        for local_index, match in found.items():
            matches[alive[local_index]] = (method, match)
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
        method, match = matches[index]
        item, score = match.item, round(match.score, 4)
        sample = samples[index]
        similarity = f" (similarity {score:.3f})" if method in SCORED_METHODS else ""
        removed.append(
            RemovedSample(
                sample_id=sample.sample_id,
                stage=f"decontamination:{method}",
                reason=f"{method} overlap with eval set {item.set_name!r} item {item.index}{similarity}",
                score=score,
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
                    score=score,
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
    samples: Sequence[Sample], items: list[EvalItem], _config: DecontaminationConfig, _embed: EmbedFunction | None
) -> dict[int, Match]:
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
                found[index] = Match(item, 1.0)
                break
    return found


def ngram_matches(
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig, _embed: EmbedFunction | None
) -> dict[int, Match]:
    """sample index -> first eval item sharing a word n-gram (or a whole short eval text) with it; the score is the
    share of that item's grams found in the sample's training texts."""
    n, shortest = config.ngram.n, config.ngram.min_short_text_words
    owner: dict[tuple[str, ...], EvalItem] = {}
    grams_of: dict[int, set[tuple[str, ...]]] = {}  # id(item) -> its grams
    lengths = set()  # gram lengths to look for in samples: n, plus the lengths of short eval texts
    for item in items:
        for text in item.texts:
            words = normalise_text(text).split()
            size = n if len(words) >= n else len(words)
            if size < min(n, shortest):
                continue
            lengths.add(size)
            for start in range(len(words) - size + 1):
                gram = tuple(words[start : start + size])
                owner.setdefault(gram, item)
                grams_of.setdefault(id(item), set()).add(gram)
    found = {}
    for index, sample in enumerate(samples):
        item = _first_shared_gram(sample, owner, lengths)
        if item is not None:
            item_grams = grams_of[id(item)]
            sample_grams = _grams(sample, {len(gram) for gram in item_grams})
            found[index] = Match(item, len(item_grams & sample_grams) / len(item_grams))
    return found


def _grams(sample: Sample, lengths: set[int]) -> set[tuple[str, ...]]:
    grams = set()
    for text in training_texts(sample):
        words = normalise_text(text).split()
        for size in lengths:
            grams.update(tuple(words[start : start + size]) for start in range(len(words) - size + 1))
    return grams


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
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig, _embed: EmbedFunction | None
) -> dict[int, Match]:
    """sample index -> the most similar eval item with estimated 5-word-shingle Jaccard >= threshold."""
    return _minhash_matches(samples, items, config.minhash)


def paraphrase_minhash_matches(
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig, _embed: EmbedFunction | None
) -> dict[int, Match]:
    """sample index -> the most similar eval item with estimated word-set Jaccard >= threshold."""
    return _minhash_matches(samples, items, config.paraphrase_minhash)


def _minhash_matches(samples: Sequence[Sample], items: list[EvalItem], config: MinHashConfig) -> dict[int, Match]:
    """Sample instruction + answer against each eval item's texts joined, by LSH: a (sample, item) pair that agrees
    on a whole band of the signature is a candidate, kept when the signature Jaccard estimate >= threshold.
    Only sample-item pairs are formed (never sample-sample), so low thresholds on word sets stay cheap."""
    if not samples or not items:
        return {}
    texts = ["\n".join(item.texts) for item in items] + [dedup_text(sample) for sample in samples]
    signatures, has_words = _signatures(texts, config)
    boundary = len(items)
    item_rows, sample_rows = np.flatnonzero(has_words[:boundary]), np.flatnonzero(has_words[boundary:]) + boundary
    if not len(item_rows) or not len(sample_rows):
        return {}
    bands, rows = config.resolved_bands, config.rows
    left, right = [], []
    for band in range(bands):
        keys = _band_keys(signatures[:, band * rows : (band + 1) * rows])
        order = item_rows[np.argsort(keys[item_rows], kind="stable")]
        sorted_keys = keys[order]
        low = np.searchsorted(sorted_keys, keys[sample_rows], side="left")
        high = np.searchsorted(sorted_keys, keys[sample_rows], side="right")
        counts = high - low
        hit = np.flatnonzero(counts)
        if not len(hit):
            continue
        repeats = counts[hit]
        positions = np.repeat(low[hit] - np.cumsum(repeats) + repeats, repeats) + np.arange(int(repeats.sum()))
        left.append(order[positions])
        right.append(np.repeat(sample_rows[hit], repeats))
    if not left:
        return {}
    pairs = np.unique(np.stack([np.concatenate(right), np.concatenate(left)], axis=1), axis=0)
    similarity = estimated_jaccard(signatures, pairs[:, 0], pairs[:, 1])
    best: dict[int, tuple[float, int]] = {}
    for text_index, item_index, score in zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), similarity.tolist(),
                                             strict=True):  # fmt: skip
        if score < config.threshold:
            continue
        sample_index = text_index - boundary
        if sample_index not in best or score > best[sample_index][0]:  # most similar, then the first item
            best[sample_index] = (score, item_index)
    return {sample_index: Match(items[item], score) for sample_index, (score, item) in sorted(best.items())}


def _signatures(texts: list[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """(num_texts x num_perm) uint32 MinHash signatures (application/minhash.py's shingles, rensa's digests), and
    which texts have words at all (those without have an all-zero row and match nothing)."""
    shingles, offsets = shingle_hashes(texts, config.shingle_size)
    lengths = np.diff(offsets.astype(np.int64))
    has_words = lengths > 0
    signatures = np.zeros((len(texts), config.num_perm), dtype=np.uint32)
    if has_words.any():
        compact_offsets = np.zeros(int(has_words.sum()) + 1, dtype=np.uint64)
        np.cumsum(lengths[has_words], out=compact_offsets[1:])
        digests = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            shingles, compact_offsets, config.num_perm, config.seed
        )  # rows without words add no shingles, so the flat buffer is already the non-empty rows back to back
        signatures[has_words] = np.asarray(digests.to_rows(), dtype=np.uint32)
    return signatures, has_words


def _band_keys(band: np.ndarray) -> np.ndarray:
    """One uint64 key per row of a (rows x r) band: equal keys = the same r signature values (up to 2**-64)."""
    keys = np.zeros(len(band), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(band.shape[1]):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + band[:, column].astype(np.uint64)
            keys ^= keys >> np.uint64(29)
    return keys


def embedding_matches(
    samples: Sequence[Sample], items: list[EvalItem], config: DecontaminationConfig, embed: EmbedFunction | None
) -> dict[int, Match]:
    """sample index -> the eval item of highest cosine similarity, when it is >= threshold.

    Every distinct text is embedded once, in one call per side (the embedder batches); similarities are computed
    block by block (block_size sample texts x all eval texts)."""
    params = config.embedding
    assert embed is not None  # decontaminate checks this
    sample_texts, sample_owner = _embedding_texts(samples, params)
    eval_texts, eval_owner = _eval_embedding_texts(items, params)
    if not sample_texts or not eval_texts:
        return {}
    eval_vectors = _normalised(embed(eval_texts))
    sample_vectors = _normalised(embed(sample_texts))
    best: dict[int, tuple[float, int]] = {}
    for start in range(0, len(sample_texts), params.block_size):
        similarities = sample_vectors[start : start + params.block_size] @ eval_vectors.T
        columns = similarities.argmax(axis=1)  # first of equal maxima: the earliest eval text
        scores = similarities[np.arange(len(columns)), columns]
        for row in np.flatnonzero(scores >= params.threshold).tolist():
            score, item_index = float(scores[row]), eval_owner[int(columns[row])]
            for sample_index in sample_owner[start + row]:
                if sample_index not in best or score > best[sample_index][0]:
                    best[sample_index] = (score, item_index)
    return {sample_index: Match(items[item], min(score, 1.0)) for sample_index, (score, item) in sorted(best.items())}


def _embedding_texts(
    samples: Sequence[Sample], params: EmbeddingContaminationConfig
) -> tuple[list[str], list[list[int]]]:
    """Distinct sample texts to embed and, for each, the samples it belongs to."""
    owners: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        texts = training_texts(sample) if params.compare == "fields" else [dedup_text(sample)]
        for text in dict.fromkeys(texts):
            if len(normalise_text(text).split()) >= params.min_words:
                owners.setdefault(text, []).append(index)
    return list(owners), list(owners.values())


def _eval_embedding_texts(items: list[EvalItem], params: EmbeddingContaminationConfig) -> tuple[list[str], list[int]]:
    """Distinct eval texts to embed and, for each, the (first) item index it belongs to."""
    owner: dict[str, int] = {}
    for index, item in enumerate(items):
        for text in item.texts if params.compare == "fields" else ["\n".join(item.texts)]:
            if len(normalise_text(text).split()) >= params.min_words:
                owner.setdefault(text, index)
    return list(owner), list(owner.values())


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


_MATCHERS = {
    "exact": exact_matches,
    "ngram": ngram_matches,
    "minhash": minhash_matches,
    "paraphrase_minhash": paraphrase_minhash_matches,
    "embedding": embedding_matches,
}
