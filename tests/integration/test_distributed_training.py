"""A stage in 2 CPU processes (accelerate's launcher, gloo): the same losses as one process at the same global
batch size, one model folder written by rank 0, and a SIGKILL mid-run followed by a rerun that resumes from the
last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_engineering.application.training.backends import device_for
from llm_engineering.application.training.distributed import train_distributed
from llm_engineering.application.training.stages import StageInputs, run_stage
from llm_engineering.domain.config.training import BaseModelConfig, SftStage
from llm_engineering.infrastructure.causal_lm import read_training_info
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import make_instruction_dataset


def sft_stage(per_device_batch: int, processes: int, max_steps: int = 4, save_steps: int = 50) -> SftStage:
    return SftStage.model_validate({
        "kind": "sft", "name": "sft", "max_length": 64,
        "distributed": {"num_processes": processes},
        "optimization": {"max_steps": max_steps, "save_steps": save_steps, "logging_steps": 1, "learning_rate": 1e-2,
                         "per_device_train_batch_size": per_device_batch, "per_device_eval_batch_size": 2,
                         "warmup_ratio": 0.0, "seed": 7},
    })  # fmt: skip


def inputs(tiny_model_dir: Path) -> StageInputs:
    return StageInputs(instruction_dataset=make_instruction_dataset(train=16, test=4), preference_dataset=None,
                       base_model=BaseModelConfig(name=str(tiny_model_dir)), backend="trl", device=device_for(),
                       max_train_samples=None)  # fmt: skip


def losses(history: list[dict]) -> list[float]:
    return [entry["loss"] for entry in history if "loss" in entry]


def test_two_processes_train_as_one_at_the_same_global_batch_and_write_the_model_once(tiny_model_dir, tmp_path, capfd):
    one = run_stage(sft_stage(4, 1), None, inputs(tiny_model_dir), tmp_path / "one")
    two = train_distributed(sft_stage(2, 2), None, inputs(tiny_model_dir), tmp_path / "two")

    assert "training sft in 2 processes (ddp, cpu)" in capfd.readouterr().out  # relayed into the step's log
    assert len(losses(two.result.log_history)) == len(losses(one.result.log_history)) == 4
    assert losses(two.result.log_history) == pytest.approx(losses(one.result.log_history), rel=1e-3)
    assert two.result.metrics["eval_loss"] == pytest.approx(one.result.metrics["eval_loss"], rel=1e-3)
    final = two.model_dir
    assert final == tmp_path / "two" / "final" and read_training_info(final).stage == "sft"
    assert sorted(p.name for p in final.iterdir()) == sorted(p.name for p in one.model_dir.iterdir())
    assert not list((tmp_path / "two").glob(".launch-*"))  # the saved datasets and the launch spec are gone


RUN_TWO = """
import sys
from pathlib import Path
from tests.integration.test_distributed_training import inputs, sft_stage
from llm_engineering.application.training.distributed import train_distributed
stage = sft_stage(2, 2, max_steps=8, save_steps=2)
trained = train_distributed(stage, None, inputs(Path(sys.argv[1])), Path(sys.argv[2]))
print("RESUMED_FROM", trained.result.resumed_from)
"""


def test_a_sigkill_mid_run_leaves_no_process_behind_and_the_rerun_resumes(tiny_model_dir, tmp_path):
    folder = tmp_path / "stage"
    command = [sys.executable, "-c", RUN_TWO, str(tiny_model_dir), str(folder)]
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (folder / "checkpoint-2" / "trainer_state.json").is_file():
        time.sleep(0.2)
    assert (folder / "checkpoint-2").is_dir(), "no checkpoint within 300 s"
    process.send_signal(signal.SIGKILL)  # the step's process only: its launcher and workers must die with it
    process.wait(timeout=30)
    time.sleep(3)
    leftover = subprocess.run(["pgrep", "-f", str(folder)], capture_output=True, text=True).stdout.split()
    assert not leftover, f"training processes outlived the step: {leftover}"
    done = sorted(int(p.name.split("-")[1]) for p in folder.glob("checkpoint-*"))
    assert done and done[-1] < 8 and not (folder / "final").exists()

    rerun = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert f"RESUMED_FROM {folder / f'checkpoint-{done[-1]}'}" in rerun.stdout
    state = json.loads(sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
                       .joinpath("trainer_state.json").read_text())  # fmt: skip
    assert state["global_step"] == 8 and read_training_info(folder / "final").stage == "sft"
