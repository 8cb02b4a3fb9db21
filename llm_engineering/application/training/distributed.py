"""A training stage in several processes: the step saves what the stage reads, launches
`accelerate launch -m llm_engineering.application.training.distributed_worker` (one process per GPU; on CPU, gloo
through the same torch.distributed launcher), relays their output into the step's log, and returns the stage rank 0
wrote. The trainer is the same code as in one process (run_stage); Trainer shards the data, averages the gradients,
and writes checkpoints from rank 0, and our final writes go through `written_by_main_process`, so the model folder
is written once. Resume: the processes resume from the last checkpoint in the stage folder, as one process does."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import llm_engineering
from llm_engineering.application.training.stages import StageInputs
from llm_engineering.domain.config.distributed import DistributedConfig
from llm_engineering.domain.config.training import BaseModelConfig, StageSpec
from llm_engineering.domain.training import TrainedStage
from llm_engineering.infrastructure.distributed import die_with_parent, free_port
from llm_engineering.infrastructure.interruption import raise_if_stop_requested, stop_requested

WORKER = "llm_engineering.application.training.distributed_worker"
TAIL_LINES = 40


class DistributedTrainingError(RuntimeError):
    """The launched processes failed, or the hardware cannot run the configured strategy."""


class LaunchSpec(BaseModel):
    """Everything a worker process needs to train the stage, as a file next to the saved datasets."""

    stage: StageSpec
    start: TrainedStage | None
    reward_model: TrainedStage | None
    teacher: TrainedStage | None
    base_model: BaseModelConfig
    backend: str
    device: str
    max_train_samples: int | None
    report_to: list[str]
    instruction_dataset: Path | None
    preference_dataset: Path | None
    output_dir: Path
    result: Path


def check_hardware(distributed: DistributedConfig, device: str, stage: str) -> None:
    field = f"stage {stage!r}: distributed"
    if distributed.strategy == "fsdp" and device != "cuda":
        raise DistributedTrainingError(f"{field}.strategy fsdp needs CUDA GPUs (this machine trains on {device}); "
                                       "use ddp on CPU")  # fmt: skip
    if device == "cuda":
        import torch

        if torch.cuda.device_count() < distributed.num_processes:
            raise DistributedTrainingError(
                f"{field}.num_processes is {distributed.num_processes}, but {torch.cuda.device_count()} GPUs are "
                "visible: one process per GPU"
            )


def launch_command(distributed: DistributedConfig, spec_path: Path, port: int) -> list[str]:
    """accelerate's torch.distributed launcher: `--multi_gpu` is its data-parallel mode, also on CPU (the trainer's
    use_cpu picks gloo); FSDP wraps each transformer block and gathers a full state dict for the final save."""
    strategy = (
        ["--use_fsdp", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP", "--fsdp_state_dict_type", "FULL_STATE_DICT"]
        if distributed.strategy == "fsdp"
        else ["--multi_gpu"]
    )
    return [
        sys.executable, "-m", "accelerate.commands.launch", *strategy,
        "--num_processes", str(distributed.num_processes), "--num_machines", "1",
        "--mixed_precision", "no",  # precision is the trainer's (bf16 on CUDA, fp32 on CPU), as in one process
        "--dynamo_backend", "no", "--main_process_port", str(port),
        "-m", WORKER, str(spec_path),
    ]  # fmt: skip


def train_distributed(stage: Any, start: TrainedStage | None, inputs: StageInputs, output_dir: Path) -> TrainedStage:
    distributed: DistributedConfig = stage.distributed
    check_hardware(distributed, inputs.device, stage.name)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".launch-") as scratch:
        folder = Path(scratch)
        spec = LaunchSpec(
            stage=StageSpec(stage=stage), start=start, reward_model=inputs.reward_model, teacher=inputs.teacher,
            base_model=inputs.base_model, backend=inputs.backend, device=inputs.device,
            max_train_samples=inputs.max_train_samples, report_to=inputs.report_to,
            instruction_dataset=_saved(inputs.instruction_dataset, folder / "instruction_dataset"),
            preference_dataset=_saved(inputs.preference_dataset, folder / "preference_dataset"),
            output_dir=output_dir, result=folder / "result.json",
        )  # fmt: skip
        spec_path = folder / "launch.json"
        spec_path.write_text(spec.model_dump_json())
        command = launch_command(distributed, spec_path, distributed.main_process_port or free_port())
        print(f"training {stage.name} in {distributed.num_processes} processes ({distributed.strategy}, "
              f"{inputs.device})", flush=True)  # fmt: skip
        _run(command, _environment(distributed, inputs.device), distributed.timeout_s, stage.name)
        if not spec.result.is_file():
            raise DistributedTrainingError(f"stage {stage.name!r}: the processes exited without rank 0's result")
        return TrainedStage.model_validate(json.loads(spec.result.read_text()))


def _saved(dataset: Any | None, path: Path) -> Path | None:
    if dataset is None:
        return None
    dataset.save_to_disk(str(path))
    return path


def _environment(distributed: DistributedConfig, device: str) -> dict[str, str]:
    """The workers import this same code (not another installed copy), and on CPU share the cores between them
    instead of each starting a thread per core."""
    root = str(Path(llm_engineering.__file__).resolve().parents[1])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    if device == "cpu":
        environment["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // distributed.num_processes))
    return environment


def _run(command: list[str], environment: dict[str, str], timeout_s: int, stage: str) -> None:
    """Relay the processes' output line by line (ZenML stores the step's stdout) from a thread, while this one waits
    for them to exit: it stops them on timeout or when the run is asked to stop, also while they print nothing (the
    rerun resumes from their last checkpoint)."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1, preexec_fn=die_with_parent)  # fmt: skip
    relay = threading.Thread(target=_relay, args=(process, tail), daemon=True)
    relay.start()
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while process.poll() is None:
            if stop_requested() or time.monotonic() > deadline:
                timed_out = not stop_requested()
                break
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            _stop(process)
        relay.join(timeout=10)
    raise_if_stop_requested(f"{stage} training in {command[command.index('--num_processes') + 1]} processes")
    if timed_out:
        raise DistributedTrainingError(f"stage {stage!r}: stopped after distributed.timeout_s={timeout_s} s")
    if process.returncode != 0:
        lines = "\n".join(tail)
        raise DistributedTrainingError(f"stage {stage!r}: the training processes exited with {process.returncode}; "
                                       f"their last lines:\n{lines}")  # fmt: skip


def _relay(process: subprocess.Popen, tail: collections.deque[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        tail.append(line.rstrip())
        print(line, end="", flush=True)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the launcher, which stops its workers; SIGKILL after 30 s (the workers die with it)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
