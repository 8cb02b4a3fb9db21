"""Resume after a stop, for every kind of policy stage: a run stopped partway (SIGTERM recorded during step 1, the
stop callback saves checkpoint-1) is rerun in the same folder; the rerun resumes from checkpoint-1, trains only the
remaining steps (past checkpoint-2, to step 3), and ends where an uninterrupted run of the same stage ends: the same
weights, the same losses step by step, the same metrics (held-out loss, rewards, divergence, token counts).

reward_model has the same test in test_reward_model.py, and a SIGKILL mid-run of SFT is in test_training.py."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from llm_engineering.domain.training import StageResult
from tests.integration.conftest import make_instruction_dataset, make_preference_dataset

MAX_STEPS, SAVE_STEPS, STOP_AFTER = 3, 2, 1
OPTIMIZATION = {
    "max_steps": MAX_STEPS,
    "save_steps": SAVE_STEPS,
    "logging_steps": 1,
    "learning_rate": 1e-2,
    "lr_scheduler_type": "linear",  # a schedule that moves every step: the resumed scheduler must be where it was
    "warmup_ratio": 0.0,
    "seed": 7,
}


def lora_sft_policy(tiny_model_dir: Path, folder: Path) -> Path:
    from llm_engineering.application.training.sft import train_sft

    config = SftConfig.model_validate(
        {"max_length": 64, "optimization": {"max_steps": 3, "save_steps": 50, "learning_rate": 5e-2}}
    )
    return train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, folder).model_dir


@pytest.fixture(scope="module")
def policy(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LoRA SFT policy the alignment, online-RL and distill stages start from (and distill's teacher)."""
    return lora_sft_policy(tiny_model_dir, tmp_path_factory.mktemp("policy"))


def run_sft(tiny_model_dir: Path, policy: Path, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.sft import train_sft

    config = SftConfig.model_validate({"max_length": 64, "optimization": OPTIMIZATION})
    return train_sft(make_instruction_dataset(), BaseModelConfig(name=str(tiny_model_dir)), config, output_dir)


def alignment(kind: str) -> Callable[[Path, Path, Path], StageResult]:
    def run(tiny_model_dir: Path, policy: Path, output_dir: Path) -> StageResult:
        from llm_engineering.application.training.dpo import train_dpo
        from llm_engineering.domain.config.training import AlignmentStage

        config = AlignmentStage.model_validate(
            {"kind": kind, "max_length": 64, "optimization": {**OPTIMIZATION, "per_device_train_batch_size": 2}}
        )
        base = BaseModelConfig(name=str(tiny_model_dir))
        return train_dpo(policy, make_preference_dataset(), base, config, output_dir)

    return run


def online_rl(kind: str) -> Callable[[Path, Path, Path], StageResult]:
    def run(tiny_model_dir: Path, policy: Path, output_dir: Path) -> StageResult:
        from llm_engineering.application.training.online_rl import train_online_rl
        from llm_engineering.domain.config.rl_stages import GrpoStageConfig, RlooStageConfig

        config = (GrpoStageConfig if kind == "grpo" else RlooStageConfig).model_validate(
            {
                "kind": kind,
                "rewards": [{"name": "length", "params": {"target": 20}}],
                "num_generations": 2,
                "max_completion_length": 4,
                "heldout_samples": 2,
                # completions: 2 prompts x 2 sampled answers per step; the sampling must continue where it stopped
                "optimization": {**OPTIMIZATION, "per_device_train_batch_size": 4},
            }
        )
        base = BaseModelConfig(name=str(tiny_model_dir))
        return train_online_rl(policy, make_instruction_dataset(), base, config, output_dir)

    return run


def run_distill(tiny_model_dir: Path, policy: Path, output_dir: Path) -> StageResult:
    from llm_engineering.application.training.distill import train_distill
    from llm_engineering.domain.config.distill_stage import DistillStageConfig

    config = DistillStageConfig.model_validate(
        {
            "kind": "distill",
            "teacher": {"path": str(policy)},
            "lmbda": 0.5,  # on-policy batches too: the student's sampled answers must continue where they stopped
            "max_length": 64,
            "max_new_tokens": 4,
            "adapter": {"method": "lora"},
            "optimization": OPTIMIZATION,
        }
    )
    base = BaseModelConfig(name=str(tiny_model_dir))
    return train_distill(None, str(policy), make_instruction_dataset(), base, config, output_dir)


RUNS: dict[str, Callable[[Path, Path, Path], StageResult]] = {
    "sft": run_sft,
    "dpo": alignment("dpo"),
    "kto": alignment("kto"),
    "orpo": alignment("orpo"),
    "grpo": online_rl("grpo"),
    "rloo": online_rl("rloo"),
    "distill": run_distill,
}


def final_weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "adapter_model.safetensors"))


def comparable(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics of the trained model (held-out loss, rewards, divergence), not of the run's own clock."""
    return {key: value for key, value in metrics.items() if not key.endswith(("_runtime", "_per_second"))}


@pytest.mark.parametrize("kind", list(RUNS))
def test_a_stopped_stage_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_run_does(
    kind: str, tiny_model_dir: Path, policy: Path, tmp_path: Path
) -> None:
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from llm_engineering.application.training.sft import FINAL_FOLDER
    from llm_engineering.infrastructure.interruption import RunStopped, recording_signals, request_stop

    run = RUNS[kind]
    whole = run(tiny_model_dir, policy, tmp_path / "whole")
    assert whole.resumed_from is None

    output_dir, steps, stopping = tmp_path / "stopped", [], True

    def count_step(*_: object) -> None:  # SIGTERM arrives during the first optimizer step (not a save step)
        steps.append(1)
        if len(steps) == STOP_AFTER and stopping:
            request_stop(signal.SIGTERM)

    hook = register_optimizer_step_post_hook(count_step)
    try:
        with recording_signals(), pytest.raises(RunStopped) as stopped:
            run(tiny_model_dir, policy, output_dir)
        assert f"after step {STOP_AFTER} (saved as checkpoint-{STOP_AFTER})" in str(stopped.value)
        assert len(steps) == STOP_AFTER and not (output_dir / FINAL_FOLDER).exists()
        at_stop = final_weights(output_dir / f"checkpoint-{STOP_AFTER}")
        stopping, steps[:] = False, []
        rerun = run(tiny_model_dir, policy, output_dir)
    finally:
        hook.remove()

    assert rerun.resumed_from == str(output_dir / f"checkpoint-{STOP_AFTER}")
    assert len(steps) == MAX_STEPS - STOP_AFTER  # the steps before the checkpoint were not redone
    state = json.loads((output_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS
    logged = [entry["step"] for entry in rerun.log_history if "loss" in entry]
    assert logged == list(range(1, MAX_STEPS + 1))  # the checkpoint's log, then the rerun's: one entry a step
    resumed_losses = [entry["loss"] for entry in rerun.log_history if "loss" in entry]
    whole_losses = [entry["loss"] for entry in whole.log_history if "loss" in entry]
    assert resumed_losses == pytest.approx(whole_losses, rel=1e-4, abs=1e-6)
    resumed, uninterrupted = final_weights(rerun.model_dir), final_weights(whole.model_dir)
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert torch.allclose(resumed[name], tensor, rtol=1e-4, atol=1e-6), name
    # The resumed step moved the weights: the two runs agree on a step trained after the checkpoint, not on nothing.
    assert any(not torch.equal(tensor, at_stop[name]) for name, tensor in resumed.items())
    assert comparable(rerun.metrics) == pytest.approx(comparable(whole.metrics), rel=1e-4, abs=1e-6)
