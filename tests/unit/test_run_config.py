import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llm_engineering.application.pipeline_runner import load_for
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.application.scheduling.schedule_config import load_schedule
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters
from llm_engineering.domain.config.training import TrainingParameters
from llm_engineering.pipeline_registry import guess_pipeline
from tests.conftest import PROJECT_ROOT

CLI = [sys.executable, "-m", "llm_engineering.cli"]


def write(tmp_path: Path, parameters: dict, **extra) -> Path:
    path = tmp_path / "feature_engineering.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters, **extra}))
    return path


def base(tmp_path: Path) -> dict:
    return {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(tmp_path)}]}}


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_run_config(path, FeatureEngineeringParameters)
    return str(info.value)


def test_unknown_key_names_field_and_file(tmp_path):
    parameters = base(tmp_path)
    parameters["chunking"] = {"chunk_sise": 100}
    path = write(tmp_path, parameters)
    message = error_for(path)
    assert str(path) in message
    assert "parameters.chunking.chunk_sise: Extra inputs are not permitted" in message


def test_wrong_type_missing_folder_and_bad_url(tmp_path):
    parameters = base(tmp_path)
    parameters["crawl"]["sources"] += [
        {"name": "gone", "type": "folder", "path": str(tmp_path / "missing")},
        {"name": "web", "type": "url", "urls": ["not a url"]},
    ]
    parameters["embedding"] = {"batch_size": "many"}
    message = error_for(write(tmp_path, parameters))
    assert (
        f"parameters.crawl.sources.1.folder.path: Value error, folder does not exist: {tmp_path / 'missing'}" in message
    )
    assert "parameters.crawl.sources.2.url.urls.0: Input should be a valid URL" in message
    assert "parameters.embedding.batch_size: Input should be a valid integer" in message


def test_zenml_keys_are_validated_too(tmp_path):
    message = error_for(write(tmp_path, base(tmp_path), enable_cahe=True))
    assert "enable_cahe: Extra inputs are not permitted" in message


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, base(tmp_path))
    loaded = load_run_config(path, FeatureEngineeringParameters, ["chunking.chunk_size=120", "qdrant.collection=c2"])
    assert loaded.parameters.chunking.chunk_size == 120
    assert loaded.parameters.qdrant.collection == "c2"
    with pytest.raises(ConfigError, match="parameters.chunking.chunk_size: Input should be greater than 8"):
        load_run_config(path, FeatureEngineeringParameters, ["chunking.chunk_size=0"])


def test_cli_validate_exits_non_zero_with_the_same_error(tmp_path):
    parameters = base(tmp_path)
    parameters["cleaning"] = {"redact_emails": "sometimes"}
    path = write(tmp_path, parameters)
    failed = subprocess.run([*CLI, "validate", str(path)], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert failed.returncode == 2
    assert "parameters.cleaning.redact_emails: Input should be a valid boolean" in failed.stderr
    ran = subprocess.run(
        [*CLI, "run", "feature_engineering", "--config", str(path)], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert ran.returncode == 2 and "parameters.cleaning.redact_emails" in ran.stderr
    assert "Step crawl_sources has started" not in ran.stdout + ran.stderr  # failed before any work


def test_an_unknown_step_name_lists_the_pipelines_steps(tmp_path):
    path = write(tmp_path, base(tmp_path), steps={"embed_and_lod": {"enable_cache": False}, "crawl_sources": {}})
    assert error_for(path) == (
        f"{path}: invalid configuration\n"
        "  steps.embed_and_lod: not a step of the feature_engineering pipeline; its steps: chunk_documents, "
        "clean_documents, crawl_sources, curate_instruction_samples, curate_preference_samples, embed_and_load, "
        "explore_datasets, generate_instruction_samples, generate_preference_samples, mark_documents_generated, "
        "publish_datasets, select_changed_documents, select_generation_chunks"
    )


def test_training_step_names_include_the_ids_the_pipeline_gives_its_dataset_loaders(tmp_path):
    path = tmp_path / "training.yaml"
    steps = {"load_instruction_dataset": {}, "train_sft": {"step_operator": "gpu"}}
    path.write_text(yaml.safe_dump({"steps": steps}))
    assert load_run_config(path, TrainingParameters).zenml["steps"] == steps
    path.write_text(yaml.safe_dump({"steps": {**steps, "train_sft_model": {}}}))
    with pytest.raises(ConfigError) as info:
        load_run_config(path, TrainingParameters)
    assert str(info.value) == (
        f"{path}: invalid configuration\n"
        "  steps.train_sft_model: not a step of the training pipeline; its steps: evaluate_models, "
        "export_trained_model, load_instruction_dataset, load_preference_dataset, plot_loss_curves, promote_model, "
        "train_dpo, train_sft, validate_training_inputs"
    )


def test_cli_run_refuses_an_unknown_bundled_model_before_any_work(tmp_path):
    parameters = base(tmp_path)
    parameters["datasets"] = {"llm": {"model": "bundled:nope"}}
    path = write(tmp_path, parameters)
    ran = subprocess.run(
        [*CLI, "run", "feature_engineering", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "COLUMNS": "400"},  # one line per problem, as a terminal that wide shows it
    )
    assert ran.returncode == 2
    assert (
        "parameters.datasets.llm.model: unknown bundled model 'bundled:nope'; known: bundled:SmolLM2-135M-Instruct"
        in ran.stderr
    )
    assert "Step crawl_sources has started" not in ran.stdout + ran.stderr


def test_shipped_configs_are_valid():
    """Every YAML in configs/, as `llm-engineering validate` reads it: no error and no warning."""
    configs = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))
    assert {config.stem.split("-")[0] for config in configs} == {"feature_engineering", "training", "schedule"}
    for config in configs:
        relative = config.relative_to(PROJECT_ROOT)  # as the configs spell their paths: from the project root
        if config.stem == "schedule":
            loaded = load_schedule(relative)
            assert loaded.feature.warnings == [] and (loaded.training is None or loaded.training.warnings == [])
        else:
            assert load_for(guess_pipeline(config.name), relative).warnings == [], config
