"""The distill stage for real on the tiny random Llama: the student moves towards its teacher (and does not with a
vanishing learning rate), a rerun resumes, a teacher with another tokenizer is refused before any training, and a
ZenML run sft -> sft -> distill trains, evaluates, plots and exports the distilled student."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_engineering.application.training.distill import TokenizerMismatch, train_distill
from llm_engineering.domain.config.distill_stage import DistillStageConfig
from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from tests.integration.conftest import make_instruction_dataset


def sft_model(tiny_model_dir: Path, folder: Path, method: str, steps: int = 3) -> Path:
    from llm_engineering.application.training.sft import train_sft

    config = SftConfig.model_validate(
        {
            "adapter": {"method": method},
            "max_length": 64,
            "optimization": {"max_steps": steps, "logging_steps": 1, "save_steps": 50, "learning_rate": 5e-2},
        }
    )
    return train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, folder).model_dir


@pytest.fixture(scope="module")
def teacher_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fully fine-tuned teacher: far enough from the base model for the divergence to have room to fall."""
    return sft_model(tiny_model_dir, tmp_path_factory.mktemp("teacher"), "full")


def distill_config(learning_rate: float = 1e-2, max_steps: int = 3, **fields: object) -> DistillStageConfig:
    return DistillStageConfig.model_validate(
        {
            "kind": "distill",
            "name": "distill",
            "teacher": {"path": "unused-here"},  # train_distill takes the resolved folder
            "lmbda": 0.0,  # the dataset's answers only: deterministic, no generation
            "max_length": 64,
            "max_new_tokens": 4,
            "adapter": {"method": "lora"},
            "optimization": {
                "max_steps": max_steps,
                "learning_rate": learning_rate,
                "lr_scheduler_type": "constant",
                "warmup_ratio": 0.0,
                "logging_steps": 1,
                "save_steps": 2,
            },
            **fields,
        }
    )


def test_a_lora_student_on_the_base_model_moves_towards_its_teacher(
    tiny_model_dir: Path, teacher_dir: Path, tmp_path: Path
) -> None:
    from llm_engineering.infrastructure.causal_lm import load_trained_model, read_training_info

    base = BaseModelConfig(name=str(tiny_model_dir))
    result = train_distill(None, str(teacher_dir), make_instruction_dataset(), base, distill_config(), tmp_path)

    metrics = result.metrics
    assert metrics["heldout_divergence_after"] < 0.5 * metrics["heldout_divergence_before"], metrics
    assert metrics["heldout_divergence_after"] == metrics["eval_loss"]
    assert (metrics["train_conversations"], metrics["train_dropped_by_max_length"], metrics["test_conversations"]) == (
        12,
        0,
        4,
    )
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 3 and all(loss >= 0 for loss in losses) and metrics["last_train_loss"] == losses[-1]
    info = read_training_info(result.model_dir)
    assert (info.stage, info.method, info.base_model, info.is_adapter) == ("distill", "lora", str(tiny_model_dir), True)
    assert (result.model_dir / "adapter_model.safetensors").is_file()
    load_trained_model(result.model_dir)


def test_with_a_vanishing_learning_rate_the_divergence_does_not_move(
    tiny_model_dir: Path, teacher_dir: Path, tmp_path: Path
) -> None:
    """The control of the test above: its margin comes from distillation, not from evaluating twice."""
    base = BaseModelConfig(name=str(tiny_model_dir))
    config = distill_config(learning_rate=1e-12, max_steps=2)
    metrics = train_distill(None, str(teacher_dir), make_instruction_dataset(), base, config, tmp_path).metrics
    assert metrics["heldout_divergence_after"] == pytest.approx(metrics["heldout_divergence_before"], rel=1e-4)


def test_a_rerun_resumes_from_the_last_checkpoint(tiny_model_dir: Path, teacher_dir: Path, tmp_path: Path) -> None:
    base = BaseModelConfig(name=str(tiny_model_dir))
    config = distill_config(max_steps=2)
    first = train_distill(None, str(teacher_dir), make_instruction_dataset(), base, config, tmp_path / "distill")
    assert first.resumed_from is None
    second = train_distill(None, str(teacher_dir), make_instruction_dataset(), base, config, tmp_path / "distill")
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-2")


def test_a_teacher_with_another_tokenizer_is_refused_before_any_training(
    tiny_model_dir: Path, teacher_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from transformers import AutoTokenizer

    other = tmp_path / "other-teacher"
    shutil.copytree(teacher_dir, other)
    tokenizer = AutoTokenizer.from_pretrained(str(other))
    tokenizer.add_tokens(["<|tool_call|>"])  # one more id than the student has
    tokenizer.save_pretrained(str(other))
    output = tmp_path / "distill"
    output.mkdir()

    base = BaseModelConfig(name=str(tiny_model_dir))
    with pytest.raises(TokenizerMismatch) as caught:
        train_distill(None, str(other), make_instruction_dataset(), base, distill_config(), output)
    size = len(tokenizer) - 1
    assert str(caught.value) == (
        f"teacher {str(other)!r} does not share the student's tokenizer (base model {str(tiny_model_dir)!r}): "
        f"vocabularies of {size} (student) and {size + 1} (teacher) tokens, 1 tokens with another id or missing "
        f"(e.g. '<|tool_call|>': None vs {size}). GKD compares the two models' next-token distributions id by id: "
        "distil from a teacher of the student's model family (the same tokenizer, e.g. a larger SmolLM2 for a SmolLM2 "
        "student), or from an earlier stage of this run"
    )
    assert list(output.iterdir()) == []  # nothing trained, nothing written


TINY_OPTIMIZATION = {"max_steps": 2, "logging_steps": 1, "save_steps": 2, "learning_rate": 1e-2}


def test_sft_teacher_then_sft_student_then_distill_in_a_zenml_run(tmp_path, tiny_model_dir, data_dir):
    """The teacher is an earlier stage (passed to the step as its artifact); the student follows the usual start rule
    (the previous policy stage) and keeps training its adapter, on-policy (lmbda 1)."""
    import zenml
    import zenml.integrations.huggingface.materializers  # noqa: F401
    from zenml.client import Client

    from llm_engineering.application.pipeline_runner import load_for, run_pipeline
    from llm_engineering.infrastructure.causal_lm import read_training_info

    zenml.save_artifact(make_instruction_dataset(), name="instruction_dataset")
    stages = [
        {"kind": "sft", "name": "teacher", "max_length": 64, "adapter": {"method": "full"},
         "optimization": {**TINY_OPTIMIZATION, "learning_rate": 5e-2}},
        {"kind": "sft", "name": "student", "start_from": "base", "max_length": 64, "optimization": TINY_OPTIMIZATION},
        {"kind": "distill", "teacher": {"stage": "teacher"}, "lmbda": 1.0, "max_new_tokens": 4, "max_length": 64,
         "optimization": TINY_OPTIMIZATION},
    ]  # fmt: skip
    document = {
        "model": {"name": "tiny-distill"},
        "parameters": {
            "base_model": {"name": str(tiny_model_dir)},
            "datasets": {"preference": None},
            "stages": stages,
            "evaluation": {"loss_samples": 4, "generation_samples": 1, "max_new_tokens": 4},
            "tracking": {"comet": False},
        },
    }
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(document))
    run = run_pipeline("training", load_for("training", path))
    assert "completed" in str(run.status).lower()
    assert {"train_teacher", "train_student", "train_distill"} <= set(run.steps)

    distilled = run.steps["train_distill"].outputs["trained_stage"][0].load()
    teacher = run.steps["train_teacher"].outputs["trained_stage"][0].load()
    assert (distilled.kind, distilled.started_from, distilled.policy) == ("distill", "student", True)
    assert (distilled.method, distilled.is_adapter) == ("lora", True)  # the student's adapter, continued
    assert distilled.model_dir.is_dir() and read_training_info(distilled.model_dir).stage == "distill"
    assert teacher.method == "full"
    metrics = distilled.result.metrics
    assert {"heldout_divergence_before", "heldout_divergence_after", "last_train_loss"} <= set(metrics)
    assert len([entry for entry in distilled.result.log_history if "loss" in entry]) == 2
    assert run.steps["train_distill"].run_metadata["distill_last_train_loss"] == metrics["last_train_loss"]

    report = run.steps["evaluate_models"].outputs["evaluation_report"][0].load()
    assert [(row.model, row.kind) for row in report.scores] == [
        ("base", "base"), ("teacher", "sft"), ("student", "sft"), ("distill", "distill")
    ]  # fmt: skip
    final = report.final()
    assert final.model == "distill" and final.eval_loss is not None and final.rouge_l is not None

    curves = run.steps["plot_loss_curves"].outputs["loss_curves"][0].load()
    assert set(curves.histories) == {"teacher", "student", "distill"}
    assert any("loss" in entry for entry in curves.histories["distill"])
    exported = Path(run.steps["export_trained_model"].run_metadata["folder"])
    assert exported.parent == data_dir / "exports" / "tiny-distill"
    card = (exported / "README.md").read_text()
    assert "| distill | distill | student |" in card and "(`distill` is the last stage)" in card
    assert run.steps["export_trained_model"].run_metadata["stage"] == "distill"
    version = Client().get_model_version("tiny-distill")
    assert version.run_metadata["distill_eval_loss"] == final.eval_loss
