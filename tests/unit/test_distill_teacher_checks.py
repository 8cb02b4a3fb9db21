"""`validate` (and every run, before any work) checks a distill stage's folder or Hub teacher: that it is there, and
that its tokenizer is the student's, token id by token id; the error names the stage's field and says the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_engineering.application.pipeline_runner import load_for
from llm_engineering.application.run_config import ConfigError
from llm_engineering.application.training.distill import TokenizerMismatch, check_shared_tokenizer

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # our chat template's tokens: present, none is added
WORDS = ["explain", "qdrant", "zenml", "lora", "in", "one", "sentence", "."]


def tokenizer_folder(folder: Path, words: list[str]) -> Path:
    """A word-level tokenizer saved as a model folder holds it (what a base model or a teacher folder provides)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([*SPECIAL, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.save_pretrained(folder)
    return folder


def training_config(tmp_path: Path, base: Path, teacher: dict) -> Path:
    stages = [{"kind": "sft"}, {"kind": "sft", "name": "student", "start_from": "base"},
              {"kind": "distill", "teacher": teacher}]  # fmt: skip
    parameters = {"base_model": {"name": str(base)}, "datasets": {"preference": None}, "stages": stages}
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    return path


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_for("training", path)
    return str(caught.value)


def test_a_teacher_folder_with_the_students_tokenizer_passes(tmp_path: Path) -> None:
    base = tokenizer_folder(tmp_path / "base", WORDS)
    teacher = tokenizer_folder(tmp_path / "teacher", WORDS)
    loaded = load_for("training", training_config(tmp_path, base, {"path": str(teacher)}))
    assert loaded.warnings == [] and loaded.parameters.stages[2].teacher.path == teacher


def test_a_teacher_folder_with_another_tokenizer_is_refused_saying_what_differs_and_the_fix(tmp_path: Path) -> None:
    base = tokenizer_folder(tmp_path / "base", WORDS)
    teacher = tokenizer_folder(tmp_path / "teacher", [*WORDS[:2], "lora", "zenml", *WORDS[4:]])  # two ids swapped
    path = training_config(tmp_path, base, {"path": str(teacher)})
    assert error_for(path) == (
        f"{path}: invalid configuration\n"
        f"  parameters.stages.2.teacher.path: teacher {str(teacher)!r} does not share the student's tokenizer (base "
        f"model {str(base)!r}): vocabularies of 11 (student) and 11 (teacher) tokens, 2 tokens with another id or "
        "missing (e.g. 'lora': 6 vs 5, 'zenml': 5 vs 6). GKD compares the two models' next-token distributions id by "
        "id: distil from a teacher of the student's model family (the same tokenizer, e.g. a larger SmolLM2 for a "
        "SmolLM2 student), or from an earlier stage of this run"
    )


def test_a_missing_teacher_folder_or_uncached_hub_model_is_named_by_its_field(tmp_path: Path) -> None:
    base = tokenizer_folder(tmp_path / "base", WORDS)
    missing = tmp_path / "no-teacher"
    path = training_config(tmp_path, base, {"path": str(missing)})
    assert error_for(path) == (
        f"{path}: invalid configuration\n  parameters.stages.2.teacher.path: teacher folder not found: {missing} "
        "(an earlier stage of this list goes in teacher.stage)"
    )
    path = training_config(tmp_path, base, {"hub_id": "nobody/no-such-teacher"})
    error = error_for(path)
    assert error.startswith(
        f"{path}: invalid configuration\n  parameters.stages.2.teacher.hub_id: no folder 'nobody/no-such-teacher', "
        "and the Hugging Face Hub model 'nobody/no-such-teacher' is not in the local cache ("
    )


def test_a_teacher_that_is_an_earlier_stage_is_checked_when_the_stage_starts_not_at_validation(tmp_path: Path) -> None:
    base = tokenizer_folder(tmp_path / "base", WORDS)
    loaded = load_for("training", training_config(tmp_path, base, {"stage": "sft"}))
    assert loaded.parameters.plan.starts()["distill"] == "student"


def test_a_vocabulary_with_an_extra_token_is_a_mismatch_too(tmp_path: Path) -> None:
    """Same ids for every student token, but one more logit: the distributions have different sizes."""
    from transformers import AutoTokenizer

    student = AutoTokenizer.from_pretrained(tokenizer_folder(tmp_path / "student", WORDS))
    teacher = AutoTokenizer.from_pretrained(tokenizer_folder(tmp_path / "teacher", [*WORDS, "extra"]))
    with pytest.raises(TokenizerMismatch) as caught:
        check_shared_tokenizer(student, teacher, "teacher-folder", "the student")
    assert str(caught.value).startswith(
        "teacher 'teacher-folder' does not share the student's tokenizer (the student): vocabularies of 11 (student) "
        "and 12 (teacher) tokens, 1 tokens with another id or missing (e.g. 'extra': None vs 11)."
    )
    check_shared_tokenizer(student, AutoTokenizer.from_pretrained(tmp_path / "student"), "same", "the student")
