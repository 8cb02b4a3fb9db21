"""Leak-free train/test split: whole source documents go to one half, never both."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from llm_engineering.application.sample_text import Sample


def split_by_document(samples: Sequence[Sample], test_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(train, test), each in input order; test holds about `test_fraction` of the samples.

    Documents are shuffled with `seed` (from their sorted ids, so input order does not matter) and
    moved to test until it holds at least the target share of samples. With two or more documents,
    each half gets at least one.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    sizes = Counter(sample.document_id for sample in samples)
    documents = sorted(sizes)
    random.Random(seed).shuffle(documents)
    target = test_fraction * len(samples)
    test_documents: set[str] = set()
    test_size = 0
    for document in documents[: max(len(documents) - 1, 0)]:  # the last document always stays in train
        if test_size >= target and test_documents:
            break
        test_documents.add(document)
        test_size += sizes[document]
    train = [sample for sample in samples if sample.document_id not in test_documents]
    test = [sample for sample in samples if sample.document_id in test_documents]
    return train, test
