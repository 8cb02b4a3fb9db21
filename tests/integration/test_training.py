"""Real SFT/DPO on a tiny random Llama: adapters that change the model, exports that load, clear input errors."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_engineering.application.training.backends import HardwareError, check_attention, resolve_backend
from llm_engineering.application.training.data_preparation import DatasetError
from llm_engineering.application.training.peft_methods import AdapterConfigError
from llm_engineering.domain.config.training import BaseModelConfig, DpoConfig, SftConfig, StagePlan, TrainingParameters
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import make_instruction_dataset, make_preference_dataset


def sft_config(method: str, **extra: object) -> SftConfig:
    return SftConfig.model_validate(
        {
            "adapter": {"method": method, "num_virtual_tokens": 4},
            "max_length": 64,
            "optimization": {"max_steps": 3, "logging_steps": 1, "save_steps": 2, "learning_rate": 5e-2},
            **extra,
        }
    )


def plan_of(sft: SftConfig, dpo: DpoConfig) -> StagePlan:
    """The stages the legacy `sft:` + `dpo:` blocks make."""
    return TrainingParameters.model_validate({"sft": sft.model_dump(), "dpo": dpo.model_dump()}).plan


def logits_of(model, tokenizer) -> torch.Tensor:  # noqa: F821
    import torch

    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Explain ZenML."}], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    with torch.no_grad():
        return model(input_ids=torch.tensor([list(ids)])).logits[0, -1]


@pytest.mark.parametrize("method", ["lora", "dora", "prompt_tuning"])
def test_sft_adapter_reloads_and_changes_logits(method: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.infrastructure.causal_lm import load_base_model, load_trained_model, read_training_info

    result = train_sft(
        make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), sft_config(method), tmp_path / "sft"
    )

    assert read_training_info(result.model_dir).is_adapter
    assert result.metrics["train_samples"] == 12 and result.metrics["eval_loss"] > 0
    assert [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert [entry["grad_norm"] for entry in result.log_history if "grad_norm" in entry]
    assert result.metrics["max_grad_norm_seen"] > 0 and result.metrics["last_train_loss"] > 0
    tokenizer = AutoTokenizer.from_pretrained(str(result.model_dir))
    assert "{% generation %}" in tokenizer.chat_template or "generation" in tokenizer.chat_template
    base_logits = logits_of(load_base_model(str(tiny_model_dir)), tokenizer)
    tuned_logits = logits_of(load_trained_model(result.model_dir), tokenizer)
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-5)


def test_sft_then_dpo_lora_exports_a_merged_model_that_loads_offline(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_engineering.application.export import ModelCard, export_model
    from llm_engineering.application.training.dpo import train_dpo
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.domain.model_summary import TrainingDataset
    from llm_engineering.infrastructure.causal_lm import load_trained_model

    base = BaseModelConfig(name=str(tiny_model_dir))
    sft = train_sft(make_instruction_dataset(), base, sft_config("lora"), tmp_path / "sft")
    dpo_config = DpoConfig.model_validate(
        {"max_length": 64, "beta": 0.2, "loss_type": "ipo", "optimization": {"max_steps": 2, "logging_steps": 1}}
    )
    dpo = train_dpo(sft.model_dir, make_preference_dataset(), base, dpo_config, tmp_path / "dpo")
    assert dpo.metrics["train_pairs"] == 8
    assert any("rewards/margins" in entry for entry in dpo.log_history)

    card = ModelCard(
        title="tiny",
        base_model=str(tiny_model_dir),
        method="lora",
        stage="dpo",
        datasets=[TrainingDataset(name="instruction_dataset", version="7", artifact_id="abc-123")],
        metrics=dpo.metrics,
        config={},
        merged=True,
    )
    exported, _ = export_model(dpo.model_dir, tmp_path / "export", merge=True, card=card)

    assert "`instruction_dataset` version 7 (artifact version id abc-123)" in (exported / "README.md").read_text()
    merged = AutoModelForCausalLM.from_pretrained(str(exported), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(exported), local_files_only=True)
    assert torch.allclose(
        logits_of(merged, tokenizer), logits_of(load_trained_model(dpo.model_dir), tokenizer), atol=1e-4
    )


def test_rerun_resumes_from_the_last_checkpoint(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    from llm_engineering.application.training.sft import train_sft

    base = BaseModelConfig(name=str(tiny_model_dir))
    first = train_sft(make_instruction_dataset(), base, sft_config("lora"), tmp_path / "sft")
    assert first.resumed_from is None
    # Training shows its progress; captured (not a terminal), as lines: the first step, then at most one line every
    # 30 s, then a summary with the last loss.
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training sft:")]
    assert re.fullmatch(r"training sft: 1/3 steps \(33%\), \d+\.\d s/step, about \d+m?\d*s left", progress[0])
    assert re.fullmatch(r"training sft: 3/3 steps in \d+m?\d*s \(\d+\.\d s/step; loss [\d.]+\)", progress[-1])
    second = train_sft(make_instruction_dataset(), base, sft_config("lora"), tmp_path / "sft")
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-3")
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training sft:")]
    assert re.fullmatch(r"training sft: 3/3 steps in \d+s \(3 before the checkpoint it resumed from\)", progress[-1])


# The killed run: train_sft in a child process, each optimizer step slowed (a global torch hook, nothing of
# ours replaced) so that the kill surely lands mid-run, however loaded the machine is.
KILLED_TRAINING = """
import sys, time
from pathlib import Path

from torch.optim.optimizer import register_optimizer_step_post_hook

from llm_engineering.application.training.sft import train_sft
from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from tests.integration.conftest import make_instruction_dataset

model, output_dir, config, step_seconds = sys.argv[1:]
register_optimizer_step_post_hook(lambda *_: time.sleep(float(step_seconds)))
config = SftConfig.model_validate_json(config)
train_sft(make_instruction_dataset(), BaseModelConfig(name=model), config, Path(output_dir))
"""


def complete_checkpoint_steps(output_dir: Path) -> list[int]:
    """Steps of the checkpoints the Trainer finished writing (it writes trainer_state.json last)."""
    steps = []
    for state in output_dir.glob("checkpoint-*/trainer_state.json"):
        try:
            steps.append(json.loads(state.read_text())["global_step"])
        except (OSError, ValueError):  # being written, or rotated away, right now
            continue
    return sorted(steps)


def test_kill_during_training_then_rerun_resumes_from_the_last_complete_checkpoint(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from llm_engineering.application.training.sft import FINAL_FOLDER, train_sft

    max_steps, save_steps = 12, 2
    config = sft_config(
        "lora",
        optimization={"max_steps": max_steps, "logging_steps": 1, "save_steps": save_steps, "learning_rate": 5e-2},
    )
    output_dir, log = tmp_path / "sft", tmp_path / "killed_training.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILLED_TRAINING,
                str(tiny_model_dir),
                str(output_dir),
                config.model_dump_json(),
                "0.5",  # seconds per step: the 10 steps after checkpoint-2 leave >= 5 s to kill it mid-run
            ],
            cwd=PROJECT_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while not complete_checkpoint_steps(output_dir):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"no complete checkpoint within 120 s; exit code {process.poll()} (None: still running)"
                        f"\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    killed_at = complete_checkpoint_steps(output_dir)[-1]
    assert killed_at < max_steps and not (output_dir / FINAL_FOLDER).exists(), (
        f"the kill came too late (checkpoint {killed_at} of {max_steps}): it must land mid-run"
    )
    # A kill while the Trainer writes a checkpoint leaves its weights without trainer_state.json: the rerun
    # must skip such a folder (it would crash the resume). Lay one down the way that kill leaves it.
    half_written = output_dir / f"checkpoint-{killed_at + save_steps}"
    half_written.mkdir(exist_ok=True)
    shutil.copy(output_dir / f"checkpoint-{killed_at}" / "adapter_model.safetensors", half_written)

    optimizer_steps = []
    counting = register_optimizer_step_post_hook(lambda *_: optimizer_steps.append(1))
    try:
        rerun = train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, output_dir)
    finally:
        counting.remove()

    assert rerun.resumed_from == str(output_dir / f"checkpoint-{killed_at}")
    assert len(optimizer_steps) == max_steps - killed_at  # the steps before the checkpoint were not redone
    # One log entry per step: those up to the checkpoint come from its trainer state, the rest from the rerun.
    assert [entry["step"] for entry in rerun.log_history if "loss" in entry] == list(range(1, max_steps + 1))
    final_state = json.loads((output_dir / f"checkpoint-{max_steps}" / "trainer_state.json").read_text())
    assert final_state["global_step"] == max_steps
    assert (rerun.model_dir / "adapter_model.safetensors").is_file()


def test_missing_columns_and_empty_splits_are_named(tiny_model_dir: Path) -> None:
    from datasets import Dataset, DatasetDict

    from llm_engineering.application.training.input_checks import check_training_inputs

    base, sft, dpo = BaseModelConfig(name=str(tiny_model_dir)), sft_config("lora"), DpoConfig(max_length=64)
    no_messages = make_instruction_dataset().remove_columns("messages")
    with pytest.raises(DatasetError, match=r"instruction_dataset\[train\]: missing column\(s\) \['messages'\]"):
        check_training_inputs(no_messages, make_preference_dataset(), base, plan_of(sft, dpo))
    empty = DatasetDict({"train": make_preference_dataset()["train"].select([]), "test": Dataset.from_list([])})
    with pytest.raises(DatasetError, match=r"preference_dataset\[train\] is empty"):
        check_training_inputs(make_instruction_dataset(), empty, base, plan_of(sft, dpo))


def test_max_length_that_truncates_every_completion_is_refused(tiny_model_dir: Path) -> None:
    from llm_engineering.application.training.input_checks import check_training_inputs

    with pytest.raises(
        DatasetError, match=r"sft.max_length=10 truncates away every completion .* raise sft.max_length"
    ):
        check_training_inputs(
            make_instruction_dataset(),
            make_preference_dataset(),
            BaseModelConfig(name=str(tiny_model_dir)),
            plan_of(sft_config("lora", max_length=10), DpoConfig(max_length=64)),
        )


def test_unknown_target_modules_list_the_models_modules(tiny_model_dir: Path) -> None:
    from llm_engineering.application.training.input_checks import check_training_inputs

    sft = SftConfig.model_validate({"adapter": {"method": "lora", "target_modules": ["q_proj", "query_key_value"]}})
    with pytest.raises(AdapterConfigError, match=r"no module\(s\) \['query_key_value'\]; it has \[.*'q_proj'"):
        check_training_inputs(
            make_instruction_dataset(),
            make_preference_dataset(),
            BaseModelConfig(name=str(tiny_model_dir)),
            plan_of(sft, DpoConfig()),
        )


def test_gpu_only_options_fail_before_training_without_a_gpu() -> None:
    with pytest.raises(HardwareError, match=r"sft.adapter.method: qlora .* need\(s\) a CUDA GPU"):
        resolve_backend("auto", "qlora", {"sft": "adamw_torch"}, has_cuda=False)
    with pytest.raises(HardwareError, match=r"backend: unsloth need\(s\) a CUDA GPU"):
        resolve_backend("unsloth", "lora", {"sft": "adamw_torch"}, has_cuda=False)
    with pytest.raises(HardwareError, match=r"dpo.optimization.optim: adamw_8bit"):
        resolve_backend("trl", "lora", {"dpo": "adamw_8bit"}, has_cuda=False)
    assert resolve_backend("auto", "lora", {"sft": "adamw_torch"}, has_cuda=False) == "trl"
    with pytest.raises(HardwareError, match=r"base_model.attn_implementation: flash_attention_2 need\(s\) a CUDA GPU"):
        resolve_backend("trl", "lora", {}, has_cuda=False, attn_implementation="flash_attention_2")
    with pytest.raises(HardwareError, match=r"flash_attention_3, but flash-attn-3 .* is not installed"):
        check_attention("flash_attention_3", has_cuda=True)  # flash-attn is not installed here
    check_attention("sdpa", has_cuda=False)


def test_unknown_method_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    from llm_engineering.application.pipeline_runner import load_for
    from llm_engineering.application.run_config import ConfigError

    config = tmp_path / "training.yaml"
    config.write_text("parameters:\n  sft:\n    adapter:\n      method: lorax\n")
    with pytest.raises(ConfigError, match=r"parameters.sft.adapter.method: Input should be 'full', 'lora'"):
        load_for("training", config)
    config.write_text("parameters:\n  sft:\n    adapter:\n      method: prefix_tuning\n")
    with pytest.raises(ConfigError, match=r"TRL's DPOTrainer cannot train prompt-learning adapters"):
        load_for("training", config)


@pytest.mark.parametrize(
    ("dpo_block", "error"),
    [
        ("method: kto\n    loss_type: ipo", r"parameters.dpo: .*loss_type 'ipo' does not apply to method 'kto'"),
        ("method: dpo\n    loss_type: kto", r"loss_type 'kto' does not apply to method 'dpo'; choose one of"),
        ("method: orpo\n    loss_type: sigmoid", r"orpo has a single loss"),
        ("method: kto\n    optimization: {per_device_train_batch_size: 1}", r"per_device_train_batch_size >= 2"),
    ],
)
def test_alignment_loss_must_fit_the_method(dpo_block: str, error: str, tmp_path: Path) -> None:
    from llm_engineering.application.pipeline_runner import load_for
    from llm_engineering.application.run_config import ConfigError

    config = tmp_path / "training.yaml"
    config.write_text(f"parameters:\n  dpo:\n    {dpo_block}\n")
    with pytest.raises(ConfigError, match=error):
        load_for("training", config)


def test_comet_tracks_offline_into_the_data_dir(
    tiny_model_dir: Path, tmp_path: Path, data_dir: Path, monkeypatch
) -> None:  # noqa: ANN001
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.infrastructure.comet_tracking import comet_report_to, end_comet_experiment
    from llm_engineering.settings import get_settings

    monkeypatch.delenv("COMET_API_KEY", raising=False)
    monkeypatch.delenv("COMET_OFFLINE_DIRECTORY", raising=False)
    report_to = comet_report_to(True, get_settings(), "test")
    assert report_to == ["comet_ml"]
    train_sft(
        make_instruction_dataset(),
        BaseModelConfig(name=str(tiny_model_dir)),
        sft_config("lora"),
        tmp_path,
        report_to=report_to,
    )
    end_comet_experiment()  # what the training steps do: the offline zip is written now, not at exit
    assert list((data_dir / "comet").resolve().glob("*.zip"))


@pytest.mark.parametrize(
    ("method", "logged"),
    [("orpo", "log_odds_ratio"), ("kto", "kl")],  # ORPO is reference-free; KTO unpairs our pairs
)
def test_orpo_and_kto_align_the_sft_adapter(method: str, logged: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch

    from llm_engineering.application.training.dpo import train_dpo
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.infrastructure.causal_lm import load_trained_model, read_training_info

    base = BaseModelConfig(name=str(tiny_model_dir))
    sft = train_sft(make_instruction_dataset(), base, sft_config("lora"), tmp_path / "sft")
    config = DpoConfig.model_validate(
        {"method": method, "max_length": 64, "beta": 0.1, "optimization": {"max_steps": 2, "logging_steps": 1}}
    )
    aligned = train_dpo(sft.model_dir, make_preference_dataset(), base, config, tmp_path / method)
    assert aligned.metrics["train_pairs"] == 8
    assert any(logged in entry for entry in aligned.log_history), aligned.log_history
    assert read_training_info(aligned.model_dir).stage == method  # the stage kind that trained it
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        before = load_trained_model(sft.model_dir)(ids).logits
        after = load_trained_model(aligned.model_dir)(ids).logits
    assert not torch.allclose(before, after)  # the adapter moved


def _label_logits(model, batch: dict):  # noqa: ANN001, ANN202
    """The logits at every position that carries loss, in order: one row per trained token."""
    import torch

    with torch.no_grad():
        logits = model(**{key: value for key, value in batch.items() if key != "labels"}).logits
    return logits[batch["labels"] != -100]


def test_row_packing_trains_each_sample_as_if_alone(tiny_model_dir: Path) -> None:
    """Packed rows give exactly the logits of the same samples padded one per row; naive packing (one attention
    span over the row) does not, which is what the per-row block-diagonal mask prevents."""
    import torch
    from transformers import AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.application.training.data_preparation import build_sft_dataset
    from llm_engineering.application.training.packing import RowPackedCollator, pack_rows
    from llm_engineering.infrastructure.causal_lm import load_base_model

    tokenizer = apply_chat_template(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    samples = build_sft_dataset(make_instruction_dataset()["train"].select(range(6)), tokenizer, 256, True)
    packed = pack_rows(samples, 256)
    assert len(packed) < len(samples)
    # The same samples in packing order, one per row: their loss-carrying logits line up with the packed ones.
    by_content = {tuple(row["input_ids"]): row for row in samples}
    order = [
        by_content[tuple(row["input_ids"][start : start + length])]
        for row in packed
        for start, length in zip(
            [sum(row["seq_lengths"][:i]) for i in range(len(row["seq_lengths"]))], row["seq_lengths"], strict=True
        )
    ]
    alone = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(order)
    row_packed = RowPackedCollator(tokenizer.pad_token_id)(list(packed))
    assert "attention_mask" not in row_packed
    assert row_packed["use_cache"] is False
    naive = {key: value for key, value in row_packed.items() if key != "position_ids"}
    for attention in ("sdpa", "eager"):
        model = load_base_model(str(tiny_model_dir), attn_implementation=attention)
        assert model.config._attn_implementation == attention
        reference = _label_logits(model, alone)
        assert torch.allclose(_label_logits(model, row_packed), reference, atol=1e-5)
        assert not torch.allclose(_label_logits(model, naive), reference, atol=1e-5)


def test_sft_with_packing_trains_fewer_rows_than_samples(tiny_model_dir: Path, tmp_path: Path) -> None:
    from llm_engineering.application.training.sft import train_sft

    result = train_sft(
        make_instruction_dataset(),
        BaseModelConfig(name=str(tiny_model_dir)),
        sft_config("lora", packing=True, max_length=256),
        tmp_path / "sft",
    )
    assert result.metrics["train_samples"] == 12 and result.metrics["train_rows"] < 12
    assert [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert result.metrics["test_samples"] == 4 and result.metrics["eval_loss"] > 0


def test_a_diverging_stage_stops_with_an_error_naming_the_learning_rate(tiny_model_dir: Path, tmp_path: Path) -> None:
    from llm_engineering.application.training.divergence import TrainingDivergedError
    from llm_engineering.application.training.sft import FINAL_FOLDER, train_sft

    config = sft_config("lora")
    config.optimization.learning_rate = 1e6
    config.optimization.max_steps = 8
    with pytest.raises(TrainingDivergedError, match=r"sft diverged at step \d+: .*nan.*sft.optimization.learning_rate"):
        train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, tmp_path / "sft")
    assert not (tmp_path / "sft" / FINAL_FOLDER).exists()


def test_a_model_wrapped_before_the_trainer_is_recorded_as_an_adapter(tiny_model_dir: Path) -> None:
    """unsloth hands SFT a LoRA model it wrapped itself (no PEFT config for TRL): it is still an adapter, so export
    merges it; before, it was recorded as full weights and merging was silently skipped."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from llm_engineering.application.training.sft import carries_adapter

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not carries_adapter(plain, None)
    assert carries_adapter(plain, LoraConfig(r=2, target_modules=["q_proj"]))  # TRL will wrap it
    wrapped = get_peft_model(plain, LoraConfig(r=2, target_modules=["q_proj"]))
    assert carries_adapter(wrapped, None)
