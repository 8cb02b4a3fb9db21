"""One real ZenML training run on tiny data: artifacts -> SFT -> DPO -> eval -> export -> model version."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import make_instruction_dataset, make_preference_dataset

TINY_RUN = {
    "model": {"name": "tiny-assistant"},
    "parameters": {
        "base_model": {"name": None},
        "sft": {
            "max_length": 64,
            "optimization": {"max_steps": 3, "logging_steps": 1, "save_steps": 2, "learning_rate": 1e-2},
        },
        "dpo": {"max_length": 64, "optimization": {"max_steps": 2, "logging_steps": 1, "save_steps": 2}},
        "evaluation": {
            "loss_samples": 4,
            "generation_samples": 1,
            "max_new_tokens": 4,
            "preference_samples": 4,
            "lm_eval": {"tasks": ["corpus_qa"], "limit": 2, "batch_size": 8},
        },  # fmt: skip
        "tracking": {"comet": False},
    },
}


def write_config(tmp_path: Path, tiny_model_dir: Path, **overrides: dict) -> Path:
    document = yaml.safe_load(yaml.safe_dump(TINY_RUN))
    document["parameters"]["base_model"]["name"] = str(tiny_model_dir)
    for block, values in overrides.items():
        document["parameters"].setdefault(block, {}).update(values)
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def judge_always_first(body: dict) -> str:
    """A loopback judge: 2 and 3 on the accuracy_style rubric; the first answer shown wins every pairwise prompt."""
    from tests.support.openai_server import last_user_message

    return "Winner: A" if "Answer B: " in last_user_message(body) else '{"accuracy": 2, "style": 3}'


def test_training_pipeline_end_to_end(
    tmp_path: Path, tiny_model_dir: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zenml
    import zenml.integrations.huggingface.materializers  # noqa: F401
    from zenml.artifacts.utils import load_artifact_visualization
    from zenml.client import Client

    from llm_engineering.application.lineage import model_lineage
    from llm_engineering.application.lineage_rendering import lineage_markdown
    from llm_engineering.application.pipeline_runner import load_for, run_pipeline
    from tests.support.hub_server import HubStubServer, use_stub_endpoint
    from tests.support.openai_server import OpenAIStubServer, last_user_message

    instruction = zenml.save_artifact(make_instruction_dataset(), name="instruction_dataset")
    preference = zenml.save_artifact(make_preference_dataset(), name="preference_dataset")
    with (
        OpenAIStubServer(responder=judge_always_first) as judge,
        HubStubServer(tokens={"hf_pipeline_token"}) as hub,
    ):
        hub_endpoint = hub.endpoint
        use_stub_endpoint(monkeypatch, hub_endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_pipeline_token")
        evaluation = {**TINY_RUN["parameters"]["evaluation"], "judge": {"base_url": judge.base_url, "model": "j"},
                      "win_rate": {"samples": 2}}  # fmt: skip
        # The win rate against production is waived while there is none; the one against base passes at 0.5.
        promotion = {"min_metrics": {"win_rate_vs_base": 0.5, "win_rate_vs_production": 0.9}}
        config = write_config(tmp_path, tiny_model_dir, evaluation=evaluation, promotion=promotion,
                              hub={"model_repo": "stub-user/tiny-assistant"})  # fmt: skip
        run = run_pipeline("training", load_for("training", config))
        pairwise = [body for body in judge.requests if "Answer B: " in last_user_message(body)]
        # One answer per model is judged; identical answers of the tiny models are answered from the cache.
        assert 1 <= len(judge.requests) - len(pairwise) <= 3
        assert 1 <= len(pairwise) <= 4  # 2 instructions in both orders (identical prompts answered from the cache)
    monkeypatch.delenv("HF_TOKEN")  # the second run below exports without pushing

    assert "completed" in str(run.status).lower()
    version = Client().get_model_version("tiny-assistant")
    metadata = version.run_metadata
    for key in ("base_eval_loss", "sft_eval_loss", "dpo_eval_loss", "dpo_reward_accuracy", "eval_loss"):
        assert isinstance(metadata[key], float), key
    # The shipped lm-eval task on every evaluated model, 2 docs of 4 choices each: accuracy in halves.
    for model in ("base_", "sft_", "dpo_", ""):
        assert metadata[f"{model}lm_eval/corpus_qa/acc"] in (0.0, 0.5, 1.0), model
    assert metadata["lm_eval/corpus_qa/acc"] == metadata["dpo_lm_eval/corpus_qa/acc"]  # the final model's, unprefixed
    assert metadata["datasets"]["instruction_dataset"]["artifact_id"] == str(instruction.id)
    assert str(version.stage).lower().endswith("production")  # the first version always beats "no production"
    assert metadata["judge_accuracy"] == 2.0 and metadata["judge_style"] == 3.0
    assert metadata["judge_score"] == 0.75  # ((2 - 1) / 2 + (3 - 1) / 2) / 2: the accuracy_style rubric in [0, 1]
    assert metadata["judge_unjudged"] == 0
    # The tiny pairs are complete and within 1.5x in length ("X is a tool in our pipeline." / "I do not know, sorry!!!")
    assert metadata["dpo_reward_accuracy_length_controlled"] == metadata["dpo_reward_accuracy"]
    # The judge always prefers the first answer shown: position swapping turns every pair into a tie.
    assert metadata["win_rate_vs_base"] == 0.5 and metadata["win_rate_vs_base_ties"] == 2
    assert metadata["win_rate_vs_base_first_position_rate"] == 1.0 and metadata["win_rate_vs_base_flip_rate"] == 1.0
    assert "win_rate_vs_production" not in metadata
    skipped = run.steps["evaluate_models"].run_metadata["win_rate_skipped"]
    assert skipped == {"win_rate_vs_production": "no production version of tiny-assistant yet"}

    exported = Path(data_dir / "exports" / "tiny-assistant" / f"v{version.number}")  # one folder per version
    assert run.steps["export_trained_model"].run_metadata["folder"] == str(exported)
    card = (exported / "README.md").read_text()
    assert f"version {instruction.version}" in card and str(preference.id) in card
    assert f"| lm_eval/corpus_qa/acc | {metadata['lm_eval/corpus_qa/acc']:.4f} |" in card
    assert (exported / "model.safetensors").is_file()  # LoRA merged into full weights
    pushed = hub.repo("model", "stub-user/tiny-assistant")
    assert pushed is not None and pushed.private  # private unless hub.private is false
    assert pushed.files["README.md"] == card.encode()
    assert pushed.files["model.safetensors"] == (exported / "model.safetensors").read_bytes()
    export_record = run.steps["export_trained_model"].run_metadata
    assert export_record["hub_url"] == f"{hub_endpoint}/stub-user/tiny-assistant"

    # What the open-source dashboard shows of the version (its Models page is Pro only): the model_summary artifact,
    # whose markdown visualization and `lineage model:` say the same as the Model Control Plane.
    summary_version = run.steps["promote_model"].outputs["model_summary"][0]
    summary = summary_version.load()
    assert (summary.model, summary.number, summary.stage) == ("tiny-assistant", version.number, "production")
    assert summary.promotion.promoted and summary.promotion.reason == metadata["promotion"]
    assert metadata["promotion"] == "no production version yet"
    assert [(m.model, m.kind) for m in summary.evaluated] == [("base", "base"), ("sft", "sft"), ("dpo", "dpo")]
    assert summary.evaluated[1].metrics["eval_loss"] == metadata["sft_eval_loss"]
    assert summary.evaluated[0].metrics["lm_eval/corpus_qa/acc"] == metadata["base_lm_eval/corpus_qa/acc"]
    assert summary.metrics == {key: value for key, value in metadata.items() if key in summary.metrics}
    assert "eval_loss" in summary.metrics and summary.exported_stage == "dpo" and summary.run_id == str(run.id)
    assert [d.label for d in summary.datasets] == [f"instruction_dataset:{instruction.version}",
                                                   f"preference_dataset:{preference.version}"]  # fmt: skip
    shown = load_artifact_visualization(summary_version, zen_store=Client().zen_store)
    assert shown.type == "markdown" and "stage **production**" in shown.value
    assert "| dpo (dpo) |" in shown.value and f"| instruction_dataset | {instruction.version} |" in shown.value
    assert "| lm_eval/corpus_qa/acc_norm |" in shown.value.split("## Evaluation", 1)[1].splitlines()[2]
    report = run.steps["evaluate_models"].outputs["evaluation_report"][0]
    comparison = load_artifact_visualization(report, zen_store=Client().zen_store).value
    assert "lm_eval/corpus_qa/acc" in comparison and "lm-evaluation-harness (corpus_qa 2 docs" in comparison
    assert "| dpo | base | 0 / 2 / 0 | 0 | 0.5000 | " in comparison
    assert "| dpo | production | not measured: no production version of tiny-assistant yet |" in comparison
    assert "Reason: no production version yet" in shown.value
    lineage = model_lineage("tiny-assistant", str(version.number))
    assert lineage.summary == summary and lineage.stage == summary.stage and lineage.metrics == summary.metrics
    printed = lineage_markdown(lineage)
    assert "- promotion: promoted to production: no production version yet" in printed
    trained_on = f"instruction_dataset:{instruction.version}, preference_dataset:{preference.version}"
    assert f"- trained on: {trained_on}" in printed

    # Again with DPO retrained (another learning rate; SFT from the cache) and gates no model can pass: the version is
    # recorded, not promoted. Production is now version 1, whose DPO folder the win rate loads and answers with.
    gated = yaml.safe_load(config.read_text())
    gated["parameters"]["dpo"]["optimization"]["learning_rate"] = 1.0e-3
    gated["parameters"]["promotion"] = {
        "min_metrics": {"reward_accuracy": 1.5, "lm_eval/corpus_qa/acc": 1.5, "win_rate_vs_production": 0.9}
    }
    with OpenAIStubServer(responder=judge_always_first) as judge_two:
        gated["parameters"]["evaluation"]["judge"]["base_url"] = judge_two.base_url
        config.write_text(yaml.safe_dump(gated))
        run_two = run_pipeline("training", load_for("training", config), no_cache=False)
    assert "completed" in str(run_two.status).lower()
    assert run_two.steps["train_sft"].status.value == "cached" and run_two.steps["train_dpo"].status.value != "cached"
    decision = run_two.steps["promote_model"].outputs["promotion_decision"][0].load()
    measured = run_two.steps["evaluate_models"].run_metadata
    assert "win_rate_skipped" not in measured  # both opponents measured
    assert measured["win_rate_vs_production"] == 0.5 and measured["win_rate_vs_production_first_position_rate"] == 1.0
    report_two = run_two.steps["evaluate_models"].outputs["evaluation_report"][0].load()
    production_row = report_two.win_rates[1]
    assert production_row.opponent_model == f"production version {version.number} (dpo)"
    assert decision.production == pytest.approx(metadata["eval_loss"])
    acc, reward_accuracy = measured["lm_eval/corpus_qa/acc"], measured["reward_accuracy"]
    assert not decision.promoted and decision.reason == (  # the YAML lists the gates sorted
        f"gates not met: lm_eval/corpus_qa/acc {acc:.4f} (needs at least 1.5); reward_accuracy {reward_accuracy:.4f} "
        "(needs at least 1.5); win_rate_vs_production 0.5000 (needs at least 0.9)"
    )
    assert Client().get_model_version("tiny-assistant", "production").number == version.number
    second = run_two.steps["promote_model"].outputs["model_summary"][0].load()
    assert second.stage is None and not second.promotion.promoted
    assert second.promotion.production == decision.production and second.promotion.reason == decision.reason
    assert model_lineage("tiny-assistant").summary == second
    # The unpromoted version exported beside production, whose files stay as they were promoted.
    second_folder = Path(run_two.steps["export_trained_model"].run_metadata["folder"])
    assert second_folder == exported.with_name(f"v{second.number}") and (second_folder / "model.safetensors").is_file()
    assert (exported / "README.md").read_text() == card and (exported / "model.safetensors").is_file()
    assert not [path.name for path in exported.parent.iterdir() if path.name.startswith(".")]  # no partial folder


def test_a_missing_dataset_version_is_a_clear_error_before_any_step(tmp_path: Path, tiny_model_dir: Path) -> None:
    from zenml.client import Client

    from llm_engineering.application.pipeline_runner import load_for, run_pipeline

    runs_before = Client().list_pipeline_runs(size=1).total
    config = write_config(tmp_path, tiny_model_dir, datasets={"instruction": {"artifact": "instruction_dataset",
                                                                              "version": "999"}})  # fmt: skip
    with pytest.raises(ValueError, match="no dataset artifact 'instruction_dataset' version 999 in this ZenML store"):
        run_pipeline("training", load_for("training", config))
    assert Client().list_pipeline_runs(size=1).total == runs_before  # nothing started
