"""A real ZenML training run over a list of stages: each starts where it should, evaluation and the model card cover
every stage that ran, and the final policy stage is what gets exported and promoted."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.conftest import make_instruction_dataset, make_preference_dataset

TINY_OPTIMIZATION = {"max_steps": 2, "logging_steps": 1, "save_steps": 2, "learning_rate": 1e-2}


def config(tmp_path: Path, tiny_model_dir: Path, **parameters: object) -> Path:
    document = {
        "model": {"name": "tiny-stages"},
        "parameters": {
            "base_model": {"name": str(tiny_model_dir)},
            "stages": [
                {"kind": "sft", "max_length": 64, "optimization": TINY_OPTIMIZATION},
                {
                    "kind": "kto",
                    "name": "kto_align",
                    "max_length": 64,
                    "optimization": {**TINY_OPTIMIZATION, "per_device_train_batch_size": 2},
                },
                {
                    "kind": "orpo",
                    "start_from": "sft",
                    "max_length": 64,
                    "optimization": TINY_OPTIMIZATION,
                    "distributed": {"num_processes": 2},
                },  # launched by its step through accelerate (gloo on CPU)
                {"kind": "reward_model", "max_length": 64, "optimization": TINY_OPTIMIZATION},
            ],  # fmt: skip
            "evaluation": {"loss_samples": 4, "generation_samples": 1, "max_new_tokens": 4, "preference_samples": 4},
            "tracking": {"comet": False},
            **parameters,
        },
    }
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_list_of_stages_trains_evaluates_and_exports_the_final_policy(tmp_path, tiny_model_dir, data_dir):
    import zenml
    import zenml.integrations.huggingface.materializers  # noqa: F401
    from zenml.client import Client

    from llm_engineering.application.pipeline_runner import load_for, run_pipeline
    from llm_engineering.infrastructure.causal_lm import read_training_info

    zenml.save_artifact(make_instruction_dataset(), name="instruction_dataset")
    zenml.save_artifact(make_preference_dataset(), name="preference_dataset")
    run = run_pipeline("training", load_for("training", config(tmp_path, tiny_model_dir)))
    assert "completed" in str(run.status).lower()
    names = ("sft", "kto_align", "orpo", "reward_model")
    assert {f"train_{name}" for name in names} <= set(run.steps)

    trained = {name: run.steps[f"train_{name}"].outputs["trained_stage"][0].load() for name in names}
    assert [(t.kind, t.started_from, t.policy) for t in trained.values()] == [
        ("sft", "base", True), ("kto", "sft", True), ("orpo", "sft", True), ("reward_model", "base", False)
    ]  # fmt: skip
    assert read_training_info(trained["orpo"].model_dir).stage == "orpo"
    processes = {name: run.steps[f"train_{name}"].run_metadata["processes"] for name in names}
    assert processes == {"sft": 1, "kto_align": 1, "orpo": 2, "reward_model": 1}
    assert trained["sft"].method == "lora" and trained["orpo"].is_adapter

    report = run.steps["evaluate_models"].outputs["evaluation_report"][0].load()
    assert [(row.model, row.kind) for row in report.scores] == [
        ("base", "base"), ("sft", "sft"), ("kto_align", "kto"), ("orpo", "orpo"), ("reward_model", "reward_model")
    ]  # fmt: skip
    assert report.reward_reference == {"sft": "base", "kto_align": "sft", "orpo": "sft"}
    assert all(row.eval_loss is not None and row.reward_accuracy is not None for row in report.scores[1:4])
    reward_row = report.scores[4]  # a classifier: its own pairwise accuracy, no language-model loss
    assert reward_row.eval_loss is None
    assert reward_row.reward_accuracy == trained["reward_model"].result.metrics["reward_accuracy"]
    assert report.final().model == "orpo"  # the last policy, not the reward model trained after it

    exported = Path(run.steps["export_trained_model"].run_metadata["folder"])
    assert exported.parent == data_dir / "exports" / "tiny-stages" and exported.name.startswith("v")
    card = (exported / "README.md").read_text()
    assert (
        "| kto_align | kto | sft |" in card and "| orpo | orpo | sft |" in card and "(`orpo` is the last stage)" in card
    )
    assert run.steps["export_trained_model"].run_metadata["stage"] == "orpo"
    curves = run.steps["plot_loss_curves"].outputs["loss_curves"][0].load()
    assert set(curves.histories) == set(names)
    version = Client().get_model_version("tiny-stages")
    assert version.run_metadata["orpo_eval_loss"] == report.final().eval_loss

    # evaluation.enabled: false is read: no evaluation step, the model card says so, the version is not promoted.
    unevaluated = run_pipeline(
        "training", load_for("training", config(tmp_path, tiny_model_dir, evaluation={"enabled": False}))
    )
    assert "completed" in str(unevaluated.status).lower()
    assert "evaluate_models" not in unevaluated.steps
    second = Path(unevaluated.steps["export_trained_model"].run_metadata["folder"])
    assert second.parent == exported.parent and second != exported  # a folder of its own: v1 stays as it was
    assert "Not evaluated (evaluation.enabled: false)." in (second / "README.md").read_text()
    assert (exported / "README.md").read_text() == card
    decision = unevaluated.steps["promote_model"].outputs["promotion_decision"][0].load()
    assert not decision.promoted and decision.reason == "no eval_loss measured"


def natural_local_datasets(folder: Path) -> dict:
    """The shapes people have: instruction/answer JSONL files, and TRL's conversational pairs (implicit prompt)
    saved with save_to_disk; neither has our messages / prompt columns."""
    import json

    from datasets import DatasetDict

    instructions = folder / "instructions"
    instructions.mkdir(parents=True)
    for split, dataset in make_instruction_dataset().items():
        rows = [{"instruction": row["instruction"], "answer": row["answer"]} for row in dataset]
        (instructions / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pairs = DatasetDict({
        split: dataset.map(lambda row: {
            "chosen": [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["rejected"]}],
        }, remove_columns=dataset.column_names)
        for split, dataset in make_preference_dataset().items()
    })  # fmt: skip
    pairs.save_to_disk(str(folder / "pairs"))
    return {"instruction": {"path": str(instructions)}, "preference": {"path": str(folder / "pairs")}}


def test_sft_then_reward_model_then_grpo_then_dpo(tmp_path, tiny_model_dir, data_dir):
    """RLHF as a list: GRPO trains the SFT policy on the reward model the run just trained (plus a toy length
    reward), and DPO continues from GRPO's policy. The datasets are local folders in the natural shapes."""
    from llm_engineering.application.pipeline_runner import load_for, run_pipeline

    datasets = natural_local_datasets(tmp_path / "local")
    grpo = {
        "kind": "grpo",
        "rewards": [{"name": "length", "params": {"target": 8}}, {"name": "reward_model", "weight": 0.5}],
        "num_generations": 2, "max_completion_length": 8, "heldout_samples": 2,
        "optimization": {**TINY_OPTIMIZATION, "per_device_train_batch_size": 2},
    }  # fmt: skip
    stages = [
        {"kind": "sft", "max_length": 64, "optimization": TINY_OPTIMIZATION},
        {"kind": "reward_model", "max_length": 64, "optimization": TINY_OPTIMIZATION},
        grpo,
        {"kind": "dpo", "max_length": 64, "optimization": TINY_OPTIMIZATION},
    ]
    path = config(tmp_path, tiny_model_dir)
    document = yaml.safe_load(path.read_text())
    document["parameters"]["stages"] = stages
    document["parameters"]["datasets"] = datasets
    document["model"]["name"] = "tiny-rlhf"
    path.write_text(yaml.safe_dump(document))
    run = run_pipeline("training", load_for("training", path))
    assert "completed" in str(run.status).lower()
    # Each folder is loaded by its own step into its own artifact, converted to the columns training reads.
    for kind, shape in [("instruction", "instruction + answer"), ("preference", "chosen + rejected as message")]:
        step = run.steps[f"load_{kind}_dataset"]
        loaded = step.outputs[f"local_{kind}_dataset"][0].load()
        assert step.run_metadata["train_samples"] == len(loaded["train"]) == (12 if kind == "instruction" else 8)
        assert step.run_metadata["shape"]["train"].startswith(shape)
    instruction, pairs = (run.steps[f"load_{kind}_dataset"].outputs[f"local_{kind}_dataset"][0].load()["test"][0]
                          for kind in ("instruction", "preference"))  # fmt: skip
    assert instruction["messages"] == [{"role": "user", "content": instruction["instruction"]},
                                       {"role": "assistant", "content": instruction["answer"]}]  # fmt: skip
    assert pairs == {"prompt": "What is Qdrant?", "chosen": "Qdrant is a tool in our pipeline.",
                     "rejected": "I do not know, sorry!!!"}  # fmt: skip
    lineage = run.steps["validate_training_inputs"].outputs["dataset_lineage"][0].load()
    assert lineage.datasets["preference_dataset"].path == datasets["preference"]["path"]

    trained = run.steps["train_grpo"].outputs["trained_stage"][0].load()
    assert (trained.kind, trained.started_from) == ("grpo", "sft")
    metrics = trained.result.metrics
    assert {
        "heldout_reward_before",
        "heldout_reward_after",
        "heldout_length_after",
        "heldout_reward_model_after",
    } <= set(metrics)
    assert any("rewards/reward_model/mean" in entry for entry in trained.result.log_history)
    dpo = run.steps["train_dpo"].outputs["trained_stage"][0].load()
    assert dpo.started_from == "grpo"
    report = run.steps["evaluate_models"].outputs["evaluation_report"][0].load()
    assert [row.model for row in report.scores] == ["base", "sft", "reward_model", "grpo", "dpo"]
    assert report.reward_reference == {"sft": "base", "grpo": "sft", "dpo": "grpo"}
    assert report.final().model == "dpo"
