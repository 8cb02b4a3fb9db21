"""How many processes a training stage runs in. More than one: the step launches them through accelerate (one per
GPU; on CPU, gloo) and waits; rank 0 writes the model folder and the checkpoints, and the step returns what it
wrote, so lineage, caching and resume stay those of one step."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llm_engineering.domain.config.base import StrictModel

DISTRIBUTED = "processes the stage trains in (num_processes > 1: launched through accelerate from the step)"


class DistributedConfig(StrictModel):
    num_processes: int = Field(
        1, ge=1, le=64, description="processes on this machine: one per GPU (CPU: gloo); 1 trains in the step itself"
    )
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="ddp: each process holds the whole model (data parallel); fsdp: weights, gradients and "
        "optimizer state sharded across GPUs (CUDA only)",
    )
    main_process_port: int | None = Field(None, ge=1024, le=65535, description="rendezvous port; default: a free one")
    timeout_s: int = Field(
        24 * 3600, ge=60, description="the launched processes are stopped after this long, and the stage fails"
    )

    @property
    def enabled(self) -> bool:
        return self.num_processes > 1
