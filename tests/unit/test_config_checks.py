"""`validate` catches, before any work, what would otherwise fail (or silently go wrong) deep inside a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import constants
from rich.console import Console
from zenml import pipeline
from zenml.client import Client

from llm_engineering.application.config_checks import check_parameters, invocation_ids, pipeline_steps
from llm_engineering.application.crawling.sources import (
    EverySourceEmpty,
    check_not_every_source_empty,
    crawl_sources,
    empty_sources,
)
from llm_engineering.application.decontamination import decontaminate, load_eval_items
from llm_engineering.application.pipeline_runner import pipeline_arguments
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.application.run_summary import print_run_summary
from llm_engineering.domain.config.dataset_quality import DecontaminationConfig, EvalSetConfig
from llm_engineering.domain.config.feature_engineering import CrawlConfig, FeatureEngineeringParameters, FolderSource
from llm_engineering.domain.config.training import TrainingParameters
from llm_engineering.domain.samples import InstructionSample
from llm_engineering.infrastructure.bundled_models import BUNDLED_LLMS, model_reference_problem
from llm_engineering.infrastructure.embedder import resolve_model_path
from tests.conftest import PROJECT_ROOT, copy_articles

CLI = [sys.executable, "-m", "llm_engineering.cli"]


def write(path: Path, parameters: dict, **extra) -> Path:
    path.write_text(yaml.safe_dump({"parameters": parameters, **extra}))
    return path


def feature(tmp_path: Path, **parameters) -> dict:
    """A feature config over one article (no warnings), its datasets block on and local generation."""
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    return {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(corpus)}]}, **parameters}


def error_for(path: Path, model=FeatureEngineeringParameters) -> str:
    with pytest.raises(ConfigError) as info:
        load_run_config(path, model)
    return str(info.value)


# ---------------------------------------------------------------- 1. eval sets parse, with decontamination's reader


def eval_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def with_eval_set(tmp_path: Path, eval_path: Path) -> dict:
    return feature(
        tmp_path, datasets={"decontamination": {"eval_sets": [{"name": "held_out", "path": str(eval_path)}]}}
    )


def test_a_malformed_eval_set_line_is_named_by_field_file_and_line(tmp_path):
    good = json.dumps({"question": "What is RAG?", "answer": "Retrieval, then generation."})
    eval_path = eval_file(tmp_path, [good, "", '{"question": "no comma" "answer": "x"}', good])
    config = write(tmp_path / "feature_engineering.yaml", with_eval_set(tmp_path, eval_path))

    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        f"  parameters.datasets.decontamination.eval_sets.0: {eval_path} line 3: not valid JSON "
        "(Expecting ',' delimiter: line 1 column 25 (char 24))"
    )
    # Curation reads the file with the same reader, so a run that got there would say the same.
    eval_set = EvalSetConfig(name="held_out", path=eval_path)
    with pytest.raises(ValueError) as info:
        decontaminate([], DecontaminationConfig(eval_sets=[eval_set]))
    assert str(info.value) == (
        f"{eval_path} line 3: not valid JSON (Expecting ',' delimiter: line 1 column 25 (char 24))"
    )


def test_an_eval_line_that_is_not_an_object_and_a_missing_text_field_are_named(tmp_path):
    eval_path = eval_file(tmp_path, [json.dumps({"question": "What is RAG?"}), json.dumps(["a", "list"])])
    config = write(tmp_path / "feature_engineering.yaml", with_eval_set(tmp_path, eval_path))
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        f"  parameters.datasets.decontamination.eval_sets.0: {eval_path} line 2: not a JSON object (a list)"
    )

    eval_file(tmp_path, [json.dumps({"question": "What is RAG?"})])
    parameters = with_eval_set(tmp_path, eval_path)
    parameters["datasets"]["decontamination"]["eval_sets"][0]["text_fields"] = ["question", "answer"]
    assert error_for(write(config, parameters)) == (
        f"{config}: invalid configuration\n"
        "  parameters.datasets.decontamination.eval_sets.0: eval set 'held_out' item 0 has no field(s) ['answer']"
    )


def test_a_valid_eval_set_loads_exactly_as_decontamination_reads_it(tmp_path):
    eval_path = eval_file(tmp_path, [json.dumps({"question": "What is RAG?", "answer": "Retrieval, then generation."})])
    loaded = load_run_config(write(tmp_path / "feature_engineering.yaml", with_eval_set(tmp_path, eval_path)),
                             FeatureEngineeringParameters)  # fmt: skip
    assert loaded.warnings == []
    (eval_set,) = loaded.parameters.datasets.decontamination.eval_sets
    assert [item.texts for item in load_eval_items(eval_set)] == [["What is RAG?", "Retrieval, then generation."]]
    kept, removed, _ = decontaminate(
        [
            InstructionSample(
                sample_id="s",
                instruction="What is RAG?",
                answer="A way to ground answers.",
                document_id="d",
                chunk_id="c",
                source="docs",
            )
        ],  # fmt: skip
        loaded.parameters.datasets.decontamination,
    )
    assert kept == [] and [r.matched for r in removed] == ["held_out:0"]


def test_an_empty_eval_set_is_a_warning_and_a_disabled_datasets_block_is_not_read(tmp_path):
    eval_path = eval_file(tmp_path, [""])
    config = write(tmp_path / "feature_engineering.yaml", with_eval_set(tmp_path, eval_path))
    assert load_run_config(config, FeatureEngineeringParameters).warnings == [
        f"{config}: parameters.datasets.decontamination.eval_sets.0: eval set 'held_out' ({eval_path}) has no items"
    ]
    eval_file(tmp_path, ["{not json"])
    parameters = with_eval_set(tmp_path, eval_path)
    parameters["datasets"]["enabled"] = False
    assert load_run_config(write(config, parameters), FeatureEngineeringParameters).warnings == []


# ---------------------------------------------------------------- 2. and 3. model references


def test_an_unknown_bundled_embedder_is_refused_instead_of_falling_back_to_minilm(tmp_path):
    config = write(tmp_path / "feature_engineering.yaml", feature(tmp_path, embedding={"model": "bundled:nope-model"}))
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        "  parameters.embedding.model: unknown bundled model 'bundled:nope-model'; known: bundled:all-MiniLM-L6-v2"
    )
    # The loader refuses it the same way, should anything skip validation.
    with pytest.raises(FileNotFoundError) as info:
        resolve_model_path("bundled:nope-model")
    assert str(info.value) == (
        "embedding model: unknown bundled model 'bundled:nope-model'; known: bundled:all-MiniLM-L6-v2"
    )
    assert resolve_model_path("bundled:all-MiniLM-L6-v2").is_dir()


def test_a_missing_embedder_folder_and_an_unknown_bundled_llm_are_reported_together(tmp_path):
    missing = tmp_path / "models" / "minilm"
    parameters = feature(tmp_path, embedding={"model": str(missing)}, datasets={"llm": {"model": "bundled:nope"}})
    config = write(tmp_path / "feature_engineering.yaml", parameters)
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        f"  parameters.embedding.model: model folder not found: {missing}\n"
        "  parameters.datasets.llm.model: unknown bundled model 'bundled:nope'; known: bundled:SmolLM2-135M-Instruct"
    )


def test_an_uncached_hub_id_is_refused_offline(tmp_path):
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # tests/conftest.py: the test session is offline
    parameters = feature(tmp_path, datasets={"llm": {"model": "nobody-here/not-a-cached-model"}})
    config = write(tmp_path / "feature_engineering.yaml", parameters)
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        "  parameters.datasets.llm.model: no folder 'nobody-here/not-a-cached-model', and the Hugging Face Hub model "
        f"'nobody-here/not-a-cached-model' is not in the local cache ({constants.HF_HUB_CACHE}) while HF_HUB_OFFLINE "
        "is set: download it once without HF_HUB_OFFLINE, or use a folder"
    )
    # Neither a folder nor owner/name: a mistyped path, said as such.
    assert model_reference_problem("models/tiny/llama", BUNDLED_LLMS, hub=True) == (
        "model folder not found, and not a Hugging Face Hub id (owner/name): models/tiny/llama"
    )


def test_a_cached_hub_id_a_folder_and_an_openai_model_name_pass(tmp_path, monkeypatch):
    # The Hub cache layout: models--owner--name/{refs/main, snapshots/<commit>/config.json}.
    repo = tmp_path / "hub" / "models--some-org--tiny-llm"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    assert model_reference_problem("some-org/tiny-llm", BUNDLED_LLMS, hub=True, hub_cache=tmp_path / "hub") is None
    assert model_reference_problem("some-org/other", BUNDLED_LLMS, hub=True, hub_cache=tmp_path / "hub") is not None
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online, the loader may download it
    assert model_reference_problem("some-org/other", BUNDLED_LLMS, hub=True, hub_cache=tmp_path / "hub") is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    tiny_model = tmp_path / "tiny-model"
    tiny_model.mkdir()
    training = write(tmp_path / "training.yaml", {"base_model": {"name": str(tiny_model)}})
    assert load_run_config(training, TrainingParameters).parameters.base_model.name == str(tiny_model)
    served = {"provider": "openai", "base_url": "http://localhost:8000/v1", "model": "gpt-4o-mini"}
    parameters = FeatureEngineeringParameters.model_validate(feature(tmp_path, datasets={"llm": served}))
    assert check_parameters(tmp_path / "f.yaml", parameters) == []


def test_the_training_base_model_is_checked_too(tmp_path):
    config = write(tmp_path / "training.yaml", {"base_model": {"name": "bundled:SmolLM3"}})
    assert error_for(config, TrainingParameters) == (
        f"{config}: invalid configuration\n"
        "  parameters.base_model.name: unknown bundled model 'bundled:SmolLM3'; known: bundled:SmolLM2-135M-Instruct"
    )


def test_every_jury_member_is_checked_before_any_work(tmp_path):
    """Judge stages, the preference ranking and evaluation: a missing rubric, a missing reward model folder, a causal
    LM where a reward model belongs and an unknown scorer model are each named by their field."""
    causal = tmp_path / "causal_lm"
    causal.mkdir()
    (causal / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    members = [
        {"kind": "llm", "name": "a", "rubric": str(tmp_path / "no-rubric.txt"), "llm": {"model": "bundled:nope"}},
        {"kind": "reward_model", "name": "b", "folder": str(tmp_path / "no-folder")},
        {"kind": "reward_model", "name": "c", "folder": str(causal)},
        {"kind": "embedding_relevance", "name": "d", "model": "bundled:nope"},
    ]
    datasets = {
        "curation": {"stages": [{"kind": "length"}, {"kind": "judge", "jury": {"members": members}}]},
        "preferences": {"strategy": "reward_ranked", "reward_model": str(tmp_path / "no-folder")},
    }
    config = write(tmp_path / "feature_engineering.yaml", feature(tmp_path, datasets=datasets))
    jury = "parameters.datasets.curation.stages.1.jury.members"
    assert error_for(config).splitlines()[1:] == [
        f"  {jury}.0.rubric: rubric {str(tmp_path / 'no-rubric.txt')!r}: neither a shipped rubric (accuracy_style, "
        "multi_dimension, reward_score, grounded, pairwise) nor an existing file",
        f"  {jury}.0.llm.model: unknown bundled model 'bundled:nope'; known: bundled:SmolLM2-135M-Instruct",
        f"  {jury}.1.folder: reward model folder {tmp_path / 'no-folder'} does not exist",
        f"  {jury}.2.folder: reward model folder {causal} holds a LlamaForCausalLM, not a sequence classifier with "
        "num_labels=1 (a causal LM scores no answers: train one with a reward_model stage)",
        f"  {jury}.3.model: unknown bundled model 'bundled:nope'; known: bundled:all-MiniLM-L6-v2",
        f"  parameters.datasets.preferences.reward_model: reward model folder {tmp_path / 'no-folder'} does not exist",
    ]
    training = {
        "evaluation": {"judge": {"jury": {"members": [{"kind": "llm", "name": "j", "rubric": "accuracy_styl"}]}}},
        "stages": [
            {"kind": "sft"},
            {"kind": "grpo", "rewards": [{"name": "llm_judge", "params": {"rubric": "nope"}}]},
        ],
    }
    config = write(tmp_path / "training.yaml", training)
    assert error_for(config, TrainingParameters).splitlines()[1:] == [
        "  parameters.evaluation.judge.jury.members.0.rubric: rubric 'accuracy_styl': neither a shipped rubric "
        "(accuracy_style, multi_dimension, reward_score, grounded, pairwise) nor an existing file",
        "  parameters.stages.1.rewards.0.params.rubric: rubric 'nope': neither a shipped rubric (accuracy_style, "
        "multi_dimension, reward_score, grounded, pairwise) nor an existing file",
    ]


# ---------------------------------------------------------------- 4. empty sources


def test_validate_warns_about_a_folder_source_that_matches_no_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.rst").write_text("not matched by the include below")
    parameters = feature(tmp_path)
    parameters["crawl"]["sources"].append({"name": "notes", "type": "folder", "path": str(empty), "include": ["*.md"]})
    config = write(tmp_path / "feature_engineering.yaml", parameters)
    warning = (
        f"{config}: parameters.crawl.sources.1: folder source 'notes' is empty: no file under {empty} matches include "
        "['*.md']"
    )
    assert load_run_config(config, FeatureEngineeringParameters).warnings == [warning]

    checked = subprocess.run([*CLI, "validate", str(config)], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.splitlines()[0] == f"warning: {warning}"  # one line, however long: grep-able
    assert "is a valid feature_engineering config" in checked.stderr


def test_the_crawl_names_empty_sources_and_fails_when_all_are(tmp_path):
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "image.png").write_bytes(b"\x89PNG")
    config = CrawlConfig.model_validate({"sources": [
        {"name": "docs", "type": "folder", "path": str(corpus)},
        {"name": "images", "type": "folder", "path": str(empty), "include": ["**/*.md"]},
    ]})  # fmt: skip
    result = crawl_sources(config, tmp_path / "clones")
    assert len(result.documents) == 1
    assert empty_sources(config, result) == [
        f"source 'images' yielded no documents from folder {empty} (include ['**/*.md']); "
        "skipped: {'not matched by include': 1}"
    ]
    check_not_every_source_empty(config, result)  # one empty source is a warning, not a failure

    only_empty = CrawlConfig(sources=[config.sources[1]])
    with pytest.raises(EverySourceEmpty) as info:
        check_not_every_source_empty(only_empty, crawl_sources(only_empty, tmp_path / "clones"))
    assert str(info.value) == (
        f"every source is empty: source 'images' yielded no documents from folder {empty} (include ['**/*.md']); "
        "skipped: {'not matched by include': 1}"
    )


@pipeline(enable_cache=False)
def crawl_only(crawl: CrawlConfig) -> None:
    from steps.crawl.crawl_sources import crawl_sources as crawl_step

    crawl_step(crawl)


def test_the_crawl_step_records_the_warning_the_run_summary_shows_and_fails_when_all_are_empty(tmp_path, data_dir):
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))  # as `llm-engineering run` does
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    (tmp_path / "empty").mkdir()
    docs = {"name": "docs", "type": "folder", "path": str(corpus)}
    empty = {"name": "empty", "type": "folder", "path": str(tmp_path / "empty")}
    include = FolderSource.model_fields["include"].default
    line = f"source 'empty' yielded no documents from folder {tmp_path / 'empty'} (include {include})"

    run = crawl_only(CrawlConfig.model_validate({"sources": [docs, empty]}))
    step = Client().get_pipeline_run(run.id).steps["crawl_sources"]
    assert step.status == "completed" and step.run_metadata["documents"] == 1
    assert step.run_metadata["warnings"] == [line]
    console = Console(record=True, width=400)
    print_run_summary(Client().get_pipeline_run(run.id), console)
    assert f"warning: crawl_sources: {line}" in console.export_text().splitlines()

    with pytest.raises(RuntimeError, match=r"failure in step\(s\): crawl_sources"):
        crawl_only(CrawlConfig.model_validate({"sources": [empty]}))
    failed = Client().list_pipeline_runs(sort_by="desc:created", size=1)[0].steps["crawl_sources"]
    assert failed.status == "failed"
    assert failed.run_metadata["warnings"] == [line]  # recorded before the step failed
    assert f"EverySourceEmpty: every source is empty: {line}" in failed.exception_info.traceback


# ---------------------------------------------------------------- 5. step names, from the pipeline's source


def test_invocation_ids_follow_zenml_naming():
    import ast

    module = ast.parse(
        "from steps.a import first, second as renamed\n"
        "def helper(kind, tag):\n"
        "    return first(kind, id=f'load_{tag}')\n"
        "def flow():\n"
        "    helper(1, 'x')\n"
        "    helper(2, tag='y')\n"
        "    renamed()\n"
        "    renamed()\n"
        "    first(id='fixed')\n"
        "    first(id=make_id())\n"
    )
    assert invocation_ids(module) == ["*", "fixed", "load_x", "load_y", "second", "second_2"]


def test_the_derived_step_names_are_the_invocations_zenml_builds(tmp_path, data_dir):
    from pipelines.feature_engineering import feature_engineering
    from pipelines.training import training

    (tmp_path / "instructions").mkdir()
    (tmp_path / "preferences").mkdir()
    datasets = {
        "instruction": {"path": str(tmp_path / "instructions")},
        "preference": {"path": str(tmp_path / "preferences")},
    }
    for function, parameters in [
        (feature_engineering, FeatureEngineeringParameters.model_validate(feature(tmp_path))),
        (training, TrainingParameters.model_validate({"datasets": datasets})),
    ]:
        composed = function.copy()
        composed.prepare(**pipeline_arguments(parameters))
        # The ids the config decides (the training stages' train_<name>) come from the parameters.
        assert pipeline_steps(type(parameters), parameters).names == sorted(composed.invocations)
