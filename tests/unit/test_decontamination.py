"""Decontamination: samples overlapping eval sets removed by the expected method, reported, never lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from llm_engineering.application.decontamination import decontaminate, load_eval_items
from llm_engineering.domain.config.dataset_quality import DecontaminationConfig, EvalSetConfig
from llm_engineering.domain.samples import InstructionSample

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
