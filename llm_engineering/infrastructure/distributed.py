"""Which process this is when a stage trains in several (accelerate launch / torchrun set RANK, WORLD_SIZE), and the
writes only one of them may make. One process, the default, is rank 0 of a world of 1: everything here is then a
no-op and the training code reads the same."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every process (none to wait for outside a process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def written_by_main_process(write: Callable[[], None]) -> None:
    """Rank 0 writes (the final model folder, its training info); every rank waits until it has, since they may
    read it next (the reward model's held-out accuracy loads the folder). Trainer's own checkpoints are already
    written by rank 0 only."""
    if is_main_process():
        write()
    barrier()


def device_of_this_process(device: str) -> str:
    """`cuda` means this process's own GPU when there are several processes (LOCAL_RANK), not GPU 0 for all."""
    return f"cuda:{local_rank()}" if device == "cuda" and world_size() > 1 else device


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """Linux: this process is killed when its parent dies, so a SIGKILLed step leaves no training processes behind
    to write into the stage folder its rerun resumes from (the step -> accelerate's launcher -> the workers)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
