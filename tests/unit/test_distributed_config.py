"""What cannot train in several processes is refused when the config is read, naming the field; what needs GPUs is
refused when the step starts, before any model loads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.application.training.distributed import DistributedTrainingError, check_hardware
from llm_engineering.domain.config.distributed import DistributedConfig
from llm_engineering.domain.config.training import TrainingParameters


def parameters(stage: dict, **top: object) -> TrainingParameters:
    return TrainingParameters.model_validate({"stages": [{"kind": "sft", **stage}], **top})


def refusal(stage: dict, **top: object) -> str:
    with pytest.raises(ValidationError) as raised:
        parameters(stage, **top)
    return str(raised.value)


def test_unsloth_trains_in_one_process():
    message = refusal({"distributed": {"num_processes": 2}}, backend="unsloth")
    assert "stages.0.distributed.num_processes: unsloth trains in one process; set backend: trl" in message


def test_fsdp_cannot_shard_qlora_and_needs_more_than_one_process():
    message = refusal({"adapter": {"method": "qlora"}, "distributed": {"num_processes": 2, "strategy": "fsdp"}})
    assert "stages.0.distributed.strategy: fsdp cannot shard the 4-bit QLoRA weights of 'sft' here; use ddp" in message
    assert "stages.0.distributed.strategy: fsdp shards across processes; set num_processes > 1" in refusal(
        {"distributed": {"strategy": "fsdp"}}
    )
    assert "num_processes" in refusal({"distributed": {"num_processes": 0}})
    assert "stages.0.sft.distributed.procs" in refusal({"distributed": {"procs": 2}})  # misspelt: named, not ignored


def test_ddp_with_any_adapter_and_the_default_single_process_are_accepted():
    assert parameters({"adapter": {"method": "qlora"}, "distributed": {"num_processes": 2}}).stages[0].distributed
    assert not parameters({}).stages[0].distributed.enabled


def test_fsdp_on_cpu_and_more_processes_than_gpus_are_refused_before_loading():
    with pytest.raises(DistributedTrainingError, match="fsdp needs CUDA GPUs .* use ddp on CPU"):
        check_hardware(DistributedConfig(num_processes=2, strategy="fsdp"), "cpu", "sft")
    check_hardware(DistributedConfig(num_processes=2), "cpu", "sft")  # ddp on CPU: gloo


def test_processes_that_print_nothing_are_still_stopped_at_the_timeout():
    import os
    import sys
    import time

    from llm_engineering.application.training.distributed import _run

    silent = [sys.executable, "-c", "import time; time.sleep(60)", "--num_processes", "2"]
    started = time.monotonic()
    with pytest.raises(DistributedTrainingError, match="stopped after distributed.timeout_s=1 s"):
        _run(silent, dict(os.environ), 1, "sft")
    assert time.monotonic() - started < 20  # not the 60 s the processes would have slept
    failing = [sys.executable, "-c", "print('out of memory'); raise SystemExit(3)", "--num_processes", "2"]
    with pytest.raises(DistributedTrainingError, match="exited with 3; their last lines:\nout of memory"):
        _run(failing, dict(os.environ), 60, "sft")
