"""lm-eval tasks: the shipped `corpus_qa` task's data is what its builder makes of sample_corpus/eval, and `validate`
refuses an unknown task, or one whose Hub data is not cached while offline, naming its field, before any model loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from llm_engineering.application.evaluation.lm_eval_harness import (
    LmEvalScore,
    LmEvalTaskError,
    check_tasks,
    scores_of,
    shipped_tasks,
    task_problems,
)
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.domain.config.evaluation_blocks import LmEvalConfig
from llm_engineering.domain.config.training import TrainingParameters
from llm_engineering.lm_eval_tasks import corpus_qa
from tests.conftest import SAMPLE_CORPUS


def test_the_shipped_task_is_built_from_the_eval_set_and_each_label_is_its_own_answer():
    items = [json.loads(line) for line in (SAMPLE_CORPUS / "eval" / "eval_questions.jsonl").read_text().splitlines()]
    shipped = [json.loads(line) for line in corpus_qa.DATA_FILE.read_text().splitlines()]
    assert shipped == corpus_qa.build_docs(items)  # the committed file is the builder's output, not hand-edited
    assert len(shipped) == len(items) == 12
    for doc, item in zip(shipped, items, strict=True):
        assert doc["question"] == item["question"] and doc["choices"][doc["label"]] == item["answer"]
        assert len(set(doc["choices"])) == 4
    assert sorted({doc["label"] for doc in shipped}) == [0, 1, 2, 3]  # the right answer is not always first
    assert shipped_tasks() == ["corpus_qa"]
    assert task_problems(LmEvalConfig(tasks=["corpus_qa"])) == []


def training_config(tmp_path: Path, tasks: list[str]) -> Path:
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"evaluation": {"lm_eval": {"tasks": tasks}}}}))
    return path


def test_an_unknown_task_and_an_uncached_hub_task_are_refused_offline_naming_their_fields(tmp_path, monkeypatch):
    from datasets import config as datasets_config

    assert os.environ["HF_DATASETS_OFFLINE"] == "1"  # tests/conftest.py: the session is offline
    monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    config = training_config(tmp_path, ["corpus_qa", "corpus_q", "arc_easy"])
    with pytest.raises(ConfigError) as info:
        load_run_config(config, TrainingParameters)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{config}: invalid configuration"
    assert lines[1].startswith(
        "  parameters.evaluation.lm_eval.tasks.1: unknown lm-eval task 'corpus_q': not shipped (corpus_qa), not in "
        "evaluation.lm_eval.include_path, nor one of lm-eval's "
    )
    assert "tasks; did you mean corpus_qa, " in lines[1]  # the closest names first
    assert lines[2] == (
        "  parameters.evaluation.lm_eval.tasks.2: lm-eval task 'arc_easy' needs allenai/ai2_arc (ARC-Easy) from the "
        "Hugging Face Hub, which is not in the local cache while HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set: download "
        "it once online (run the task with lm-eval), or use a shipped task (corpus_qa)"
    )
    assert len(lines) == 3  # the shipped task passes

    # The same check guards the evaluation step itself (a run started without `validate`).
    with pytest.raises(LmEvalTaskError, match=r"^evaluation.lm_eval.tasks.0: lm-eval task 'arc_easy' needs"):
        check_tasks(LmEvalConfig(tasks=["arc_easy"]))

    # Once the dataset is prepared in the cache, the task may run offline; online, lm-eval downloads it.
    (tmp_path / "datasets-cache" / "allenai___ai2_arc" / "ARC-Easy").mkdir(parents=True)
    assert task_problems(LmEvalConfig(tasks=["arc_easy"])) == []
    monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", tmp_path / "empty-cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    assert task_problems(LmEvalConfig(tasks=["arc_easy"])) == []


def test_lm_eval_results_become_typed_scores_named_for_gates():
    output = {
        "results": {
            "corpus_qa": {
                "alias": "corpus_qa",
                "acc,none": 0.5,
                "acc_stderr,none": 0.25,
                "acc_norm,none": 0.25,
                "acc_norm_stderr,none": "N/A",
            },
            "gsm8k": {"exact_match,strict-match": 0.1, "exact_match_stderr,strict-match": 0.01},
        },  # fmt: skip
        "n-samples": {"corpus_qa": {"original": 12, "effective": 4}, "gsm8k": {"original": 9, "effective": 9}},
    }
    assert scores_of(output) == [
        LmEvalScore(task="corpus_qa", metric="acc", value=0.5, stderr=0.25, samples=4),
        LmEvalScore(task="corpus_qa", metric="acc_norm", value=0.25, stderr=None, samples=4),
        LmEvalScore(task="gsm8k", metric="exact_match", filter="strict-match", value=0.1, stderr=0.01, samples=9),
    ]
    assert [score.name for score in scores_of(output)] == [
        "corpus_qa/acc", "corpus_qa/acc_norm", "gsm8k/exact_match_strict-match"
    ]  # fmt: skip
