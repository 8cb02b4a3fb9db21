"""Dedup: planted exact, near and paraphrased duplicates, each removed by its own method, nothing else."""

from __future__ import annotations

import random

import numpy as np
import pytest

from llm_engineering.application.dedup import deduplicate
from llm_engineering.application.minhash import find_similar_pairs
from llm_engineering.domain.config.dataset_quality import DedupConfig, MinHashConfig, SemanticDedupConfig
from llm_engineering.domain.samples import InstructionSample, PreferenceSample

WORDS = [f"word{i}" for i in range(400)]


def sample(sample_id: str, instruction: str, answer: str, document_id: str = "doc") -> InstructionSample:
    return InstructionSample(
        sample_id=sample_id, instruction=instruction, answer=answer, document_id=document_id, chunk_id="c", source="s"
    )


def random_answer(seed: int, length: int = 60) -> str:
    return " ".join(random.Random(seed).choices(WORDS, k=length))


def planted() -> list[InstructionSample]:
    original = random_answer(1)
    near = original.split()
    near[10], near[40] = "changed", "edited"  # two words changed out of 60
    return [
        sample("a", "Explain the first topic.", original),
        sample("b", "explain the FIRST topic", original.upper() + " !"),  # exact after normalisation
        sample("c", "Explain the first topic.", " ".join(near)),  # near duplicate
        sample("d", "Explain another topic.", random_answer(2)),
        sample("e", "Explain a third topic.", random_answer(3)),
    ]


def test_exact_then_minhash_remove_exactly_the_planted_duplicates() -> None:
    config = DedupConfig(minhash=MinHashConfig(threshold=0.6))
    kept, removed, report = deduplicate(planted(), config)

    assert [s.sample_id for s in kept] == ["a", "d", "e"]
    assert [(r.sample_id, r.stage, r.matched) for r in removed] == [
        ("b", "dedup:exact", "a"),
        ("c", "dedup:minhash", "a"),
    ]
    assert report.removed_by_method == {"exact": 1, "minhash": 1}
    assert [(p.kept_id, p.removed_id, p.method) for p in report.pairs] == [("a", "b", "exact"), ("a", "c", "minhash")]
    assert 0.6 <= report.pairs[1].similarity < 1
    assert report.kept_count + len(removed) == report.input_count == 5  # nothing lost


def test_methods_are_switchable() -> None:
    config = DedupConfig(minhash=MinHashConfig(enabled=False))
    kept, removed, report = deduplicate(planted(), config)
    assert [s.sample_id for s in kept] == ["a", "c", "d", "e"]
    assert report.removed_by_method == {"exact": 1}


def test_semantic_dedup_removes_a_paraphrase_with_minilm() -> None:
    from llm_engineering.infrastructure.embedder import Embedder

    lora = "LoRA freezes the base weights and trains two small low-rank matrices."
    paraphrase = "LoRA keeps the original weights frozen and learns two small low-rank matrices."
    samples = [
        sample("lora", "What does LoRA do?", lora),
        sample("paraphrase", "What is LoRA for?", paraphrase),
        sample("other", "How do I crawl a website politely?", "Read robots.txt first and wait between requests."),
    ]
    config = DedupConfig(semantic=SemanticDedupConfig(enabled=True, threshold=0.85, block_size=2))
    kept, removed, report = deduplicate(samples, config, embed=Embedder().encode)

    assert [s.sample_id for s in kept] == ["lora", "other"]
    assert [(r.sample_id, r.stage, r.matched) for r in removed] == [("paraphrase", "dedup:semantic", "lora")]
    assert report.pairs[0].similarity >= 0.85


def test_semantic_dedup_without_embed_function_fails_before_work() -> None:
    with pytest.raises(ValueError, match="semantic dedup is enabled but no embed function was given"):
        deduplicate(planted(), DedupConfig(semantic=SemanticDedupConfig(enabled=True)))


def test_semantic_keeps_first_occurrence_and_chains_do_not_cascade() -> None:
    # a~b and b~c but not a~c: b goes (matches kept a), c stays (its only match b was removed).
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.28, 0.96]], dtype=np.float32)
    samples = [sample(name, "Explain it.", name) for name in "abc"]
    config = DedupConfig(exact=dict(enabled=False), minhash=MinHashConfig(enabled=False),
                         semantic=SemanticDedupConfig(enabled=True, threshold=0.79))  # fmt: skip
    kept, removed, _ = deduplicate(samples, config, embed=lambda texts: vectors[: len(texts)])
    assert [s.sample_id for s in kept] == ["a", "c"]
    assert [(r.sample_id, r.matched) for r in removed] == [("b", "a")]


def test_dedup_against_previous_version_keeps_old_and_drops_new_copies() -> None:
    old = planted()[:1]
    new = [
        sample("new-copy", "Explain the first topic!", old[0].answer),
        sample("new-fresh", "Explain X.", random_answer(9)),
    ]
    kept, removed, report = deduplicate(new, DedupConfig(), previous=old)
    assert [s.sample_id for s in kept] == ["new-fresh"]
    assert [(r.sample_id, r.matched) for r in removed] == [("new-copy", "a")]
    assert report.previous_count == 1 and report.input_count == 2


def test_preference_samples_dedup_on_prompt_and_chosen() -> None:
    def pair(sample_id: str, rejected: str) -> PreferenceSample:
        return PreferenceSample(sample_id=sample_id, prompt="Explain LoRA.", chosen="It trains adapters.",
                                rejected=rejected, document_id="d", chunk_id="c", source="s")  # fmt: skip

    kept, removed, _ = deduplicate([pair("p1", "No idea."), pair("p2", "Something else.")], DedupConfig())
    assert [s.sample_id for s in kept] == ["p1"] and removed[0].matched == "p1"


def test_minhash_pairs_on_planted_corpus_are_exact() -> None:
    rng = random.Random(7)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(40, 90))) for _ in range(300)]
    truth = set()
    for original in range(0, 300, 10):
        words = texts[original].split()
        words[rng.randrange(len(words))] = "replaced"
        truth.add((original, len(texts)))
        texts.append(" ".join(words))
    texts += ["", "...", "too short"]  # no words / fewer words than a shingle: no crash, no false match
    pairs = find_similar_pairs(texts, MinHashConfig(threshold=0.6))  # planted Jaccard >= 0.75
    assert set(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True)) == truth
    assert (pairs.similarity >= 0.6).all()
