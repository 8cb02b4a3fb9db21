"""A dataset version's statistics: token lengths per field, split and source; lexical diversity; opening phrases;
samples per source and document; judge score columns; chosen vs rejected lengths of preference pairs."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from statistics import mean, median
from typing import Any

from llm_engineering.domain.exploration import (
    Count,
    DatasetStatistics,
    Histogram,
    LengthDistribution,
    ScoreDistribution,
    TextDiversity,
)

WHITESPACE = "whitespace (words)"
SCORE_PREFIX = "score_"
TOP_OPENINGS = 10
TOP_DOCUMENTS = 10
OPENING_WORDS = 3

CountTokens = Callable[[list[str]], list[int]]  # texts -> tokens each


def count_words(texts: list[str]) -> list[int]:
    """The whitespace fallback: words, as `str.split` cuts them."""
    return [len(text.split()) for text in texts]


def fields_of(kind: str) -> list[str]:
    return ["prompt", "chosen", "rejected"] if kind == "preference" else ["instruction", "answer"]


def histogram(values: Sequence[float], bins: int = 10, integer: bool = True) -> Histogram:
    """Equal-width bins over [min, max]; integer values get bins at least one unit wide (no empty fractional bins)."""
    if not values:
        return Histogram()
    low, high = float(min(values)), float(max(values))
    width = (high - low) / bins
    if integer:
        width = max(float(int(width) + (width % 1 > 0)), 1.0)  # whole units: 0.3 -> 1, 2.5 -> 3
        bins = max(1, min(bins, int((high - low) // width) + 1))
    elif width == 0:
        width, bins = 1.0, 1
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return Histogram(
        edges=[low + i * width for i in range(bins + 1)],
        counts=counts,
        mean=mean(values),
        median=median(values),
        maximum=high,
    )


WORD = re.compile(r"[\w'-]+")


def _words(text: str) -> list[str]:
    """Lowercased words, punctuation off ("moon?" is "moon")."""
    return WORD.findall(text.lower())


def diversity(field: str, texts: Sequence[str]) -> TextDiversity:
    """distinct-n (Li et al., 2016): distinct n-grams over all n-grams; a text's bigrams never span two texts."""
    unigrams: list[str] = []
    bigrams: list[tuple[str, str]] = []
    for text in texts:
        words = _words(text)
        unigrams += words
        bigrams += list(zip(words, words[1:], strict=False))
    vocabulary = len(set(unigrams))
    return TextDiversity(
        field=field,
        words=len(unigrams),
        vocabulary=vocabulary,
        distinct_1=vocabulary / len(unigrams) if unigrams else 0.0,
        distinct_2=len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
    )


def opening_phrases(texts: Sequence[str], top: int = TOP_OPENINGS) -> list[Count]:
    """The most frequent first three words (lowercased, no punctuation): 'what is the' 40 times says the generator
    asks one way."""
    openings = Counter(" ".join(_words(text)[:OPENING_WORDS]) for text in texts if text.strip())
    return [Count(name=name, count=count) for name, count in openings.most_common(top)]


def _counts(values: Sequence[str], top: int | None = None) -> list[Count]:
    return [Count(name=name, count=count) for name, count in Counter(values).most_common(top)]


def dataset_statistics(
    rows: Sequence[dict[str, Any]], kind: str, count_tokens: CountTokens, tokenizer: str
) -> DatasetStatistics:
    """`rows`: every sample of the version, each with its `split`; `count_tokens` counts each text's tokens."""
    fields = fields_of(kind)
    tokens = {field: count_tokens([str(row.get(field) or "") for row in rows]) for field in fields}
    groups: list[tuple[str, list[int]]] = [("all", list(range(len(rows))))]
    for key in ("split", "source"):
        for value in dict.fromkeys(str(row.get(key) or "") for row in rows):
            groups.append((f"{key}: {value}", [i for i, row in enumerate(rows) if str(row.get(key) or "") == value]))
    lengths = [
        LengthDistribution(
            field=field, group=group, samples=len(members), histogram=histogram([tokens[field][i] for i in members])
        )  # fmt: skip
        for field in fields
        for group, members in groups
    ]
    per_document = Counter(str(row.get("document_id") or "") for row in rows)
    statistics = DatasetStatistics(
        samples=len(rows),
        splits=_counts([str(row.get("split") or "") for row in rows]),
        sources=_counts([str(row.get("source") or "") for row in rows]),
        documents=len(per_document),
        top_documents=[Count(name=n, count=c) for n, c in per_document.most_common(TOP_DOCUMENTS)],
        samples_per_document=histogram(list(per_document.values())),
        tokenizer=tokenizer,
        lengths=lengths,
        diversity=[diversity(field, [str(row.get(field) or "") for row in rows]) for field in fields],
        opening_phrases=opening_phrases([str(row.get(fields[0]) or "") for row in rows]),
        scores=score_distributions(rows),
    )
    if kind == "preference":
        difference = [c - r for c, r in zip(tokens["chosen"], tokens["rejected"], strict=True)]
        statistics.chosen_minus_rejected_tokens = histogram(difference)
    return statistics


def score_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({key for row in rows for key in row if key.startswith(SCORE_PREFIX)})


def main_score_column(rows: Sequence[dict[str, Any]]) -> str | None:
    """The jury's aggregate (score_judge) rather than a member's (score_judge_gpt): the shortest name."""
    columns = score_columns(rows)
    return min(columns, key=lambda c: (len(c), c)) if columns else None


def score_distributions(rows: Sequence[dict[str, Any]]) -> list[ScoreDistribution]:
    distributions = []
    for column in score_columns(rows):
        values = [float(row[column]) for row in rows if row.get(column) is not None]
        if values:
            distributions.append(
                ScoreDistribution(column=column, scored=len(values), histogram=histogram(values, integer=False))
            )
    return distributions
