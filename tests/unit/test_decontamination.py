"""Decontamination: samples overlapping eval sets removed by the expected method, reported, never lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from llm_engineering.application.dataset_curation import curate
from llm_engineering.application.decontamination import decontaminate, load_eval_items
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.dataset_quality import DecontaminationConfig, EvalSetConfig
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters
from llm_engineering.domain.samples import InstructionSample
from llm_engineering.infrastructure.embedder import Embedder
from tests.conftest import copy_articles

CORPUS = Path(__file__).resolve().parents[2] / "sample_corpus"
EVAL_QUESTIONS = CORPUS / "eval" / "eval_questions.jsonl"


def sample(sample_id: str, instruction: str, answer: str) -> InstructionSample:
    return InstructionSample(sample_id=sample_id, instruction=instruction, answer=answer,
                             document_id="d", chunk_id="c", source="s")  # fmt: skip


def sentence_from(article: str, starts_with: str) -> str:
    text = (CORPUS / "articles" / article).read_text(encoding="utf-8")
    start = text.index(starts_with)
    return text[start : text.index(".", start) + 1]


def test_samples_quoting_the_articles_behind_eval_items_are_removed() -> None:
    # Eval lines 2 and 5 (items 1 and 4) quote these article sentences; a generator would copy them too.
    lora = sentence_from("lora-in-practice.md", "LoRA freezes the pretrained weights")
    minhash = sentence_from("minhash-deduplication.md", "The probability that two documents share")
    samples = [
        sample("lora", "Summarise the LoRA section.", f"In short: {lora} That is why it is cheap."),
        sample("minhash", "Why does MinHash work?", minhash),
        sample("clean", "What is a vector database?", "A store that indexes embeddings for similarity search."),
    ]
    config = DecontaminationConfig(eval_sets=[EvalSetConfig(name="eval_questions", path=EVAL_QUESTIONS)])
    kept, removed, report = decontaminate(samples, config)

    assert [s.sample_id for s in kept] == ["clean"]
    assert [(r.sample_id, r.stage, r.matched) for r in removed] == [
        ("lora", "decontamination:ngram", "eval_questions:1"),
        ("minhash", "decontamination:exact", "eval_questions:4"),  # the whole answer is the eval answer
    ]
    (eval_report,) = report.eval_sets
    assert eval_report.items == 12
    assert eval_report.removed_by_method == {"exact": 1, "ngram": 1, "minhash": 0}
    assert [example.eval_item for example in eval_report.examples] == [1, 4]
    assert report.kept_count + len(removed) == report.input_count == 3


def test_exact_ngram_and_minhash_each_catch_their_case(tmp_path: Path) -> None:
    words = [f"term{i}" for i in range(60)]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(
        "\n".join(json.dumps(item) for item in [
            {"id": 7, "question": "What is the capital of France?", "answer": "Paris."},
            {"id": 8, "question": "Explain the thing.", "answer": " ".join(words[:40])},
            {"id": 9, "question": "Unrelated?", "answer": " ".join(words[40:60] + words[:10])},
        ]) + "\n"
    )  # fmt: skip
    near = words[:40]
    for position in range(5, 40, 6):  # an edit every 6 words: no 13-gram survives, Jaccard stays high
        near[position] = f"edited{position}"
    samples = [
        sample("exact", "what is the capital of france", "It is Paris, of course."),
        sample("ngram", "Tell me.", "Intro words here " + " ".join(words[40:53]) + " outro."),
        sample("near", "Describe it.", " ".join(near)),
        sample("clean", "Explain something else entirely.", "A different answer with different words."),
    ]
    config = DecontaminationConfig.model_validate({
        "eval_sets": [{"name": "local", "path": str(eval_file), "text_fields": ["question", "answer"]}],
        "minhash": {"threshold": 0.3, "shingle_size": 2},
    })  # fmt: skip
    kept, removed, report = decontaminate(samples, config)

    assert [s.sample_id for s in kept] == ["clean"]
    assert [(r.sample_id, r.stage, r.matched) for r in removed] == [
        ("exact", "decontamination:exact", "local:0"),
        ("ngram", "decontamination:ngram", "local:2"),
        ("near", "decontamination:minhash", "local:1"),
    ]
    assert report.removed_by_method == {"exact": 1, "ngram": 1, "minhash": 1}
    # exact scores 1.0; ngram the share of the item's 13-grams in the sample (the answer's 13 words: 1 of 18 grams)
    assert [r.score for r in removed[:2]] == [1.0, round(1 / 18, 4)]


def test_text_fields_default_to_all_string_fields_and_parquet_and_saved_datasets_load(tmp_path: Path) -> None:
    from datasets import Dataset

    records = [{"question": "Why?", "answer": "Because.", "score": 3}]
    Dataset.from_list(records).to_parquet(str(tmp_path / "eval.parquet"))
    Dataset.from_list(records).save_to_disk(str(tmp_path / "saved"))
    for path in (tmp_path / "eval.parquet", tmp_path / "saved"):
        (item,) = load_eval_items(EvalSetConfig(name="e", path=path))
        assert item.texts == ["Why?", "Because."]


def test_missing_eval_file_fails_at_config_time(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ValidationError, match=f"evaluation set not found: {missing}"):
        DecontaminationConfig.model_validate({"eval_sets": [{"name": "gone", "path": str(missing)}]})


# ---------------------------------------------------------------- paraphrase-level copies

EVAL_SET = {"name": "eval_questions", "path": str(EVAL_QUESTIONS)}
ONLY = {"exact": {"enabled": False}, "ngram": {"enabled": False}, "minhash": {"enabled": False}}
# Eval item 7: "What does gradient clipping protect against during fine-tuning?" / "It caps the norm of the gradient
# before each optimiser update, which prevents a single unusual batch from producing a huge, destabilising weight
# change."
REORDERED = sample(  # clauses reordered, words dropped, a synonym, a voice change: 13-grams and 5-shingles miss it
    "reordered",
    "During fine-tuning, what does gradient clipping guard against?",
    "A single unusual batch is prevented from producing a huge destabilising weight change: it caps the gradient norm "
    "before each update.",
)
REWORDED = sample(  # the same meaning in mostly other words: word sets miss it
    "reworded",
    "Why would you clip gradients while fine-tuning a model?",
    "Clipping bounds the size of the gradient ahead of every optimizer step, so one strange mini-batch cannot cause an "
    "enormous, destabilizing jump in the weights.",
)
UNRELATED = sample("unrelated", "What is a vector database?", "A store that indexes embeddings for similarity search.")
SAME_TOPIC = sample(  # near item 7's topic (optimiser steps, batches), another fact: must stay
    "same-topic",
    "How does gradient accumulation help on a small GPU?",
    "It sums gradients over several micro-batches before one optimiser step, so the effective batch is larger than "
    "what fits in memory.",
)


def test_paraphrase_minhash_catches_a_reordered_copy_with_dropped_words_that_13_grams_miss() -> None:
    samples = [REORDERED, REWORDED, UNRELATED, SAME_TOPIC]
    config = DecontaminationConfig.model_validate({"eval_sets": [EVAL_SET], "paraphrase_minhash": {"enabled": True}})
    kept, removed, report = decontaminate(samples, config)

    assert [s.sample_id for s in kept] == ["reworded", "unrelated", "same-topic"]
    assert [(r.sample_id, r.stage, r.matched, r.score, r.reason) for r in removed] == [
        ("reordered", "decontamination:paraphrase_minhash", "eval_questions:7", 0.793,
         "paraphrase_minhash overlap with eval set 'eval_questions' item 7 (similarity 0.793)"),
    ]  # fmt: skip
    assert report.removed_by_method == {"exact": 0, "ngram": 0, "minhash": 0, "paraphrase_minhash": 1}
    (example,) = report.eval_sets[0].examples
    assert (example.method, example.eval_item, example.score) == ("paraphrase_minhash", 7, 0.793)
    assert example.eval_text.startswith("What does gradient clipping protect against during fine-tuning?\nIt caps")


def test_embedding_catches_a_reworded_copy_and_keeps_same_topic_and_unrelated_samples() -> None:
    samples = [REWORDED, UNRELATED, SAME_TOPIC]
    config = DecontaminationConfig.model_validate({"eval_sets": [EVAL_SET], **ONLY, "embedding": {"enabled": True}})
    kept, removed, report = decontaminate(samples, config, embed=Embedder().encode)

    assert [s.sample_id for s in kept] == ["unrelated", "same-topic"]
    ((sample_id, stage, matched, score, reason),) = [(r.sample_id, r.stage, r.matched, r.score, r.reason)
                                                     for r in removed]  # fmt: skip
    assert (sample_id, stage, matched) == ("reworded", "decontamination:embedding", "eval_questions:7")
    assert score == pytest.approx(0.8167, abs=1e-3)  # the answer against item 7's answer (same-topic: 0.70)
    assert reason == f"embedding overlap with eval set 'eval_questions' item 7 (similarity {score:.3f})"
    assert report.removed_by_method == {"embedding": 1}
    # the word-set method does not see it: its words are mostly new
    word_sets = DecontaminationConfig.model_validate({"eval_sets": [EVAL_SET], **ONLY,
                                                      "paraphrase_minhash": {"enabled": True}})  # fmt: skip
    assert decontaminate(samples, word_sets)[1] == []


def test_embedding_without_an_embed_function_fails_before_any_work() -> None:
    samples = [REWORDED]
    config = DecontaminationConfig.model_validate({"eval_sets": [EVAL_SET], "embedding": {"enabled": True}})
    with pytest.raises(ValueError, match="^decontamination embedding is enabled but no embed function was given$"):
        decontaminate(samples, config)
    assert samples == [REWORDED]


def test_curation_removes_paraphrases_with_method_item_and_score_and_counts_them_per_eval_set() -> None:
    stage = {"kind": "decontamination", "eval_sets": [EVAL_SET],
             "paraphrase_minhash": {"enabled": True}, "embedding": {"enabled": True}}  # fmt: skip
    config = DatasetGenerationConfig.model_validate({"curation": {"stages": [stage]}})
    generated = [UNRELATED, REORDERED, SAME_TOPIC, REWORDED]
    kept, removed, report = curate("instruction_dataset", generated, [], config, Embedder().encode)

    assert [s.sample_id for s in kept] == ["unrelated", "same-topic"]
    assert [(r.sample_id, r.stage, r.matched) for r in removed] == [
        ("reordered", "decontamination:paraphrase_minhash", "eval_questions:7"),
        ("reworded", "decontamination:embedding", "eval_questions:7"),
    ]
    assert removed[0].score == 0.793 and removed[1].score == pytest.approx(0.8167, abs=1e-3)
    assert removed[0].reason == "paraphrase_minhash overlap with eval set 'eval_questions' item 7 (similarity 0.793)"
    assert report.decontamination == {"eval_questions": {"paraphrase_minhash": 1, "embedding": 1}}
    ((counts),) = report.stages
    assert (counts.stage, counts.samples_in, counts.samples_out) == ("decontamination", 4, 2)
    assert counts.removed_by_reason == {"paraphrase_minhash": 1, "embedding": 1}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"embedding": {"enabled": True, "threshold": 1.5}},
         "parameters.datasets.curation.stages.0.embedding.threshold: Input should be less than or equal to 1"),
        ({"embedding": {"compare": "both"}},
         "parameters.datasets.curation.stages.0.embedding.compare: Input should be 'fields' or 'whole'"),
        ({"paraphrase_minhash": {"shingle_size": 0}},
         "parameters.datasets.curation.stages.0.paraphrase_minhash.shingle_size: Input should be greater than or "
         "equal to 1"),
        ({"paraphrase_minhash": {"treshold": 0.4}},
         "parameters.datasets.curation.stages.0.paraphrase_minhash.treshold: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_a_wrong_paraphrase_method_setting_names_its_field(tmp_path: Path, block: dict, message: str) -> None:
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    stages = [{"kind": "decontamination", "eval_sets": [EVAL_SET], **block}]
    parameters = {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(corpus)}]},
                  "datasets": {"curation": {"stages": stages}}}  # fmt: skip
    config = tmp_path / "feature_engineering.yaml"
    config.write_text(yaml.safe_dump({"parameters": parameters}))
    with pytest.raises(ConfigError) as error:
        load_run_config(config, FeatureEngineeringParameters)
    assert message in str(error.value)
    assert str(error.value).startswith(f"{config}: invalid configuration")
