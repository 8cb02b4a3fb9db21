"""Leak-free split: no document in both halves, deterministic for a seed, about the requested share."""

from __future__ import annotations

import pytest

from llm_engineering.application.dataset_split import split_by_document
from llm_engineering.domain.samples import InstructionSample


def samples() -> list[InstructionSample]:
    return [
        InstructionSample(
            sample_id=f"s{i}",
            instruction="Explain it.",
            answer="An answer.",
            document_id=f"doc{i % 17}",
            chunk_id="c",
            source="s",
        )  # fmt: skip
        for i in range(200)
    ]


def test_no_document_in_both_halves_and_nothing_lost() -> None:
    train, test = split_by_document(samples(), test_fraction=0.2, seed=3)
    assert not {s.document_id for s in train} & {s.document_id for s in test}
    assert sorted(s.sample_id for s in train + test) == sorted(s.sample_id for s in samples())
    assert 0.2 <= len(test) / 200 < 0.3  # whole documents: at least the target, under one document more


def test_deterministic_for_a_seed_and_independent_of_input_order() -> None:
    first = split_by_document(samples(), 0.2, seed=3)
    again = split_by_document(list(reversed(samples())), 0.2, seed=3)
    assert {s.sample_id for s in first[1]} == {s.sample_id for s in again[1]}
    other_seed = split_by_document(samples(), 0.2, seed=4)
    assert {s.document_id for s in other_seed[1]} != {s.document_id for s in first[1]}


def test_each_half_gets_a_document_and_bad_fraction_fails() -> None:
    two_docs = samples()[:2]
    train, test = split_by_document(two_docs, 0.01, seed=0)
    assert len(train) == 1 and len(test) == 1
    with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
        split_by_document(two_docs, 1.0, seed=0)
