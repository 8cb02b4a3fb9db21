"""MinHash-LSH near-duplicate detection: ours (application/minhash.py) against datasketch.

Synthetic corpus with known labels: random word sequences (50-150 words), 10% near-duplicates made
by 1-3 word edits (one per 50 words at most) of a distinct original (the positives), plus 5% hard negatives that share a
35-65% window with an original (Jaccard 0.2-0.5: LSH candidates, but not duplicates).

Both sides get the same normalised words, 5-word shingles, num_perm=128 and LSH bands/rows, and are
timed end to end (shingling + signatures + LSH + pair extraction). Datasketch is reported twice:
its LSH candidates as-is (its standard use) and with our verification step added (candidate pairs
kept when MinHash.jaccard >= threshold), so the F1 comparison is fair either way.

    .venv/bin/python benchmarks/dedup.py [--docs 100000] [--baseline-docs N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time

from datasketch import MinHash, MinHashLSH

from llm_engineering.application.minhash import find_similar_pairs
from llm_engineering.application.sample_text import normalised_words
from llm_engineering.domain.config.dataset_quality import MinHashConfig

CONFIG = MinHashConfig(num_perm=128, bands=32, threshold=0.7, shingle_size=5, seed=1)
Pair = tuple[int, int]


def synthetic_corpus(count: int, seed: int = 0) -> tuple[list[str], set[Pair]]:
    """Documents and the set of planted near-duplicate pairs (as sorted index pairs)."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(20_000)]
    duplicates, hard_negatives = count // 10, count // 20
    originals = [rng.choices(vocabulary, k=rng.randint(50, 150)) for _ in range(count - duplicates - hard_negatives)]
    documents = list(originals)
    planted: list[Pair] = []
    for original in rng.sample(range(len(originals)), duplicates):
        words = list(originals[original])
        for _ in range(rng.randint(1, max(1, len(words) // 50))):  # true Jaccard >= ~0.8
            position = rng.randrange(len(words))
            operation = rng.choice(("replace", "insert", "delete"))
            if operation == "replace":
                words[position] = rng.choice(vocabulary)
            elif operation == "insert":
                words.insert(position, rng.choice(vocabulary))
            else:
                del words[position]
        planted.append((original, len(documents)))
        documents.append(words)
    for original in rng.choices(range(len(originals)), k=hard_negatives):
        words = originals[original]
        window = int(len(words) * rng.uniform(0.35, 0.65))
        start = rng.randrange(len(words) - window + 1)
        filler = rng.choices(vocabulary, k=len(words) - window)
        documents.append(filler[: len(filler) // 2] + words[start : start + window] + filler[len(filler) // 2 :])
    order = list(range(len(documents)))
    rng.shuffle(order)
    position_of = {old: new for new, old in enumerate(order)}
    texts = [" ".join(documents[old]) for old in order]
    truth = {tuple(sorted((position_of[a], position_of[b]))) for a, b in planted}
    return texts, truth


def ours(texts: list[str]) -> set[Pair]:
    pairs = find_similar_pairs(texts, CONFIG)
    return set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True))


def datasketch_pairs(texts: list[str]) -> tuple[set[Pair], list[MinHash]]:
    """Standard datasketch use: MinHash per document (update_batch, its fast path), insert, query."""
    size = CONFIG.shingle_size
    index = MinHashLSH(num_perm=CONFIG.num_perm, params=(CONFIG.resolved_bands, CONFIG.rows))
    signatures = []
    for key, text in enumerate(texts):
        words = normalised_words(text)
        shingles = {" ".join(words[i : i + size]).encode() for i in range(max(1, len(words) - size + 1))}
        signature = MinHash(num_perm=CONFIG.num_perm, seed=CONFIG.seed)
        signature.update_batch(list(shingles))
        index.insert(key, signature)
        signatures.append(signature)
    pairs = set()
    for key, signature in enumerate(signatures):
        for other in index.query(signature):
            if other != key:
                pairs.add((min(key, other), max(key, other)))
    return pairs, signatures


def verified(pairs: set[Pair], signatures: list[MinHash]) -> set[Pair]:
    return {(a, b) for a, b in pairs if signatures[a].jaccard(signatures[b]) >= CONFIG.threshold}


def scores(found: set[Pair], truth: set[Pair]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def timed(function, *args):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the corpus")
    parser.add_argument("--baseline-docs", type=int, default=None, help="datasketch on the first N (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours; the median time is reported")
    args = parser.parse_args()
    if args.docs < 1000:
        parser.error("--docs must be at least 1000")
    baseline_docs = min(args.baseline_docs or args.docs, args.docs)

    texts, truth = synthetic_corpus(args.docs)
    print(
        f"corpus: {len(texts)} docs, {len(truth)} planted near-duplicate pairs; num_perm={CONFIG.num_perm}, "
        f"bands={CONFIG.resolved_bands} x rows={CONFIG.rows}, shingle={CONFIG.shingle_size} words, "
        f"threshold={CONFIG.threshold}"
    )
    rows = []
    sizes = sorted({baseline_docs, args.docs})
    baseline_rate = None
    for size in sizes:
        subset = texts[:size]
        subset_truth = {pair for pair in truth if pair[1] < size}
        runs = [timed(ours, subset) for _ in range(args.repeats)]
        found, seconds = runs[0][0], statistics.median(run[1] for run in runs)
        rows.append(("ours (rensa signatures + NumPy LSH + verification)", size, seconds, scores(found, subset_truth)))
        if size == baseline_docs:
            (candidates, signatures), ds_seconds = timed(datasketch_pairs, subset)
            checked, verify_seconds = timed(verified, candidates, signatures)
            rows.append(("datasketch MinHash + MinHashLSH", size, ds_seconds, scores(candidates, subset_truth)))
            rows.append(("datasketch + verification", size, ds_seconds + verify_seconds, scores(checked, subset_truth)))
            baseline_rate = size / ds_seconds
            ours_rate = size / seconds
    print()
    print("| method | docs | seconds | docs/s | precision | recall | F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, size, seconds, (precision, recall, f1) in rows:
        print(
            f"| {name} | {size} | {seconds:.2f} | {size / seconds:,.0f} | {precision:.4f} | {recall:.4f} | {f1:.4f} |"
        )
    print()
    print(f"throughput ratio (ours / datasketch, both on {baseline_docs} docs): {ours_rate / baseline_rate:.1f}x")


if __name__ == "__main__":
    main()
