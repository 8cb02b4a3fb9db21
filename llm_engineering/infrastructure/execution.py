"""Where the data stages' batches compute: in this process (`LocalEngine`) or on Ray workers (`RayEngine`).

A stage calls one function, `engine.map_batches(fn, items, batch_size)`: `fn` gets consecutive slices of `items` and
the results come back one per slice, in input order, whichever worker finished first. So a stage written against
the local engine gives the same results on Ray, as long as `fn` is deterministic; nothing outside this module
imports Ray. `fn` must pickle (a module-level function, a `functools.partial`, a bound method of a small object):
on Ray it is put in the object store once per stage and sent with each batch.

The workers (actors) outlive a stage: the next stage of the run with the same execution settings uses them again, so
it pays neither their start (a Python process importing torch) nor a model load that a function caches (the embedder's
model stays loaded in the worker). On the sample corpus this was 10 s per curation step on 2 cores. Idle workers keep
their CPUs reserved until the run ends, so one set is kept at a time: a stage with other settings replaces it. A stage
that stops early or whose worker died for good kills its workers; the next stage starts new ones.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from llm_engineering.domain.config.execution import ExecutionConfig

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)
IN_FLIGHT_PER_WORKER = 2  # one running, one queued: a worker never waits for the driver, memory stays bounded


class WorkerFailed(RuntimeError):
    """A Ray worker died (killed, out of memory, node lost) and its batch failed past `execution.max_retries`."""


class RayUnavailable(RuntimeError):
    """engine: ray without the `ray` package, or no cluster at `execution.address`."""


class ExecutionEngine(Protocol):
    name: str
    workers: int

    def map_batches(self, fn: Callable[[list[T]], R], items: Sequence[T], batch_size: int) -> Iterator[R]: ...


class LocalEngine:
    """Each batch in turn, in this process, lazily: the consumer's work between batches interleaves as before."""

    name = "local"
    workers = 1

    def map_batches(self, fn: Callable[[list[T]], R], items: Sequence[T], batch_size: int) -> Iterator[R]:
        for start in range(0, len(items), batch_size):
            yield fn(list(items[start : start + batch_size]))


class _BatchWorker:
    """A Ray actor that runs any stage's function on a batch; the process keeps what functions cache (a loaded
    model), so later stages find it there."""

    def run(self, fn: Callable[[list[Any]], Any], batch: list[Any]) -> Any:
        return fn(batch)


@dataclass
class _KeptWorkers:
    """This process's live workers and the settings they were made with, kept between stages (module docstring)."""

    settings: tuple[Any, ...] | None = None
    actors: list[Any] = field(default_factory=list)

    def discard(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.forget()

    def forget(self) -> None:  # their connection is gone, and they with it
        self.settings, self.actors = None, []


_kept = _KeptWorkers()


class RayEngine:
    """Batches spread round-robin over `num_workers` actors, at most IN_FLIGHT_PER_WORKER each, results in order.

    A killed actor is restarted and its pending batches resubmitted (`max_retries`); past that the stage raises
    WorkerFailed naming the batch, and the consumer has received exactly the batches before it.
    """

    name = "ray"

    def __init__(self, config: ExecutionConfig):
        self.config = config
        self.workers = config.num_workers
        # At least 2: torch's one-thread kernels round differently (up to 1.3e-7 in MiniLM's vectors) from its
        # parallel ones, which agree with each other whatever the count; so workers match a multi-core local run.
        self._threads = str(max(2, int(config.cpus_per_worker)))
        connect(config)

    def map_batches(self, fn: Callable[[list[T]], R], items: Sequence[T], batch_size: int) -> Iterator[R]:
        import ray

        starts = range(0, len(items), batch_size)
        if not starts:
            return
        function = ray.put(fn)
        actors = self._actors(min(self.workers, len(starts)))
        pending: deque[tuple[int, Any]] = deque()
        submitted = 0
        finished = False
        try:
            while pending or submitted < len(starts):
                while submitted < len(starts) and len(pending) < IN_FLIGHT_PER_WORKER * len(actors):
                    start = starts[submitted]
                    batch = list(items[start : start + batch_size])
                    pending.append((submitted, actors[submitted % len(actors)].run.remote(function, batch)))
                    submitted += 1
                index, reference = pending.popleft()
                try:
                    result = ray.get(reference)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError) as error:  # fmt: skip
                    raise WorkerFailed(
                        f"batch {index + 1} of {len(starts)} failed: its Ray worker died "
                        f"{self.config.max_retries + 1} time(s) ({type(error).__name__}); the batches before it "
                        "were delivered, none after. Rerun the step (it resumes), or raise execution.max_retries "
                        "if workers are preempted"
                    ) from error
                yield result
            finished = True
        finally:
            if not finished:  # a dead worker, or a consumer that stopped early: no batch of it may run on
                _kept.discard()

    def _actors(self, count: int) -> list[Any]:
        """`count` live workers of this engine's settings: the kept ones, and new ones if there are fewer."""
        import ray

        config = self.config
        settings = (_connected_to[0] if _connected_to else None, config.cpus_per_worker, self._threads,
                    config.max_retries)  # fmt: skip
        if _kept.settings != settings:  # idle workers of other settings hold CPUs that new ones may need
            _kept.discard()
            _kept.settings = settings
        if len(_kept.actors) < count:
            # The same BLAS/torch thread count in every worker, whatever the node's core count: reproducible.
            threads = {name: self._threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            actor_class = ray.remote(_BatchWorker).options(
                num_cpus=self.config.cpus_per_worker,
                max_restarts=self.config.max_retries,
                max_task_retries=self.config.max_retries,
                runtime_env={"env_vars": threads},
            )
            _kept.actors.extend(actor_class.remote() for _ in range(count - len(_kept.actors)))
        return _kept.actors[:count]


@contextmanager
def open_engine(config: ExecutionConfig | None) -> Iterator[ExecutionEngine]:
    yield RayEngine(config) if config is not None and config.engine == "ray" else LocalEngine()


_connected_to: list[str | None] = []  # the address this process's Ray was initialised with


def connect(config: ExecutionConfig) -> None:
    """Initialise Ray once per process (a second stage reuses the connection; Ray shuts down at exit)."""
    import ray

    if ray.is_initialized():
        if _connected_to and _connected_to[0] == config.address:
            return
        ray.shutdown()
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if config.address is None:  # a local Ray for this run: enough CPUs for the workers, oversubscribed if need be
        needed = int(config.num_workers * config.cpus_per_worker + 0.999)
        options |= {"num_cpus": max(os.cpu_count() or 1, needed), "include_dashboard": False}
    _kept.forget()  # workers of an earlier connection (here, or shut down elsewhere) are gone
    ray.init(address=config.address, **options)
    _connected_to[:] = [config.address]
    available = ray.cluster_resources().get("CPU", 0)
    if config.num_workers * config.cpus_per_worker > available:
        raise RayUnavailable(
            f"execution.num_workers: {config.num_workers} workers x {config.cpus_per_worker} CPUs need more than the "
            f"cluster's {available:g} CPUs (they would wait forever); lower num_workers or cpus_per_worker"
        )


def ray_problem(config: ExecutionConfig) -> tuple[str, str] | None:
    """(field, problem) when engine: ray cannot run here: the package is missing or no cluster answers at the
    address (a TCP connect, no Ray session: validation stays fast)."""
    if config.engine != "ray":
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        return "engine", "ray is not installed: `pip install -e '.[ray]'` (make install does), or use engine: local"
    if config.address is None or config.address == "auto":
        return None
    host, port = _host_port(config.address)
    if port is None:
        return "address", f"{config.address!r} is not host:port, ray://host:port or auto"
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return "address", (
            f"no Ray cluster answers at {config.address} ({reason}): start one there (`ray start --head "
            f"--port {port}`), fix the address, or set address: null to start a local Ray for the run"
        )


def _host_port(address: str) -> tuple[str, int | None]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else (address, None)
