"""SIGTERM / SIGINT during a run. ZenML's step signal handler raises `RunInterruptedException` (an `Exception`) in
the main thread wherever the step happens to be; code that turns a failed item into a counted failure (one bad
prompt must not sink its batch) must let it through, or the step goes on for minutes and later steps run.

`llm-engineering run` also records which signal arrived (ZenML calls the handler it replaced, after its own):
- the run is marked `stopping` in ZenML with the reason, so ZenML files the interrupted step and the run as
  `stopped` (not failed) and refuses to start any later step, whatever the pipeline's execution mode;
- long loops (LLM request chunks and batches, embedding rounds, training steps) check `raise_if_stop_requested`
  between units of work, so a step stops there even where the interruption was swallowed on its way up;
- ZenML's own account of the interrupted step (`Failed to run step ...`, a traceback per step) is silenced: the run
  ends with that signal's exit code and one line saying what stopped and that the next run resumes;
- a second signal ends the process at once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

# The signals received during the run in progress (a fresh list per `recording_signals`; None outside a run).
_received: list[int] | None = None

# ZenML's loggers that report an interrupted step as a failure, with a traceback; muted once a stop was asked for.
ZENML_STEP_LOGGERS = ("zenml.orchestrators.step_launcher", "zenml.orchestrators.local.local_orchestrator")


class RunStopped(BaseException):
    """Raised between units of work once SIGTERM / SIGINT arrived. A BaseException, like KeyboardInterrupt, so the
    `except Exception` that keeps one bad item from sinking its batch cannot swallow it."""

    def __init__(self, signal_name: str, where: str) -> None:
        super().__init__(f"{signal_name} received: stopped {where}; the next run resumes from what was stored")
        self.signal_name = signal_name
        self.where = where


def is_interruption(error: BaseException) -> bool:
    from zenml.exceptions import RunInterruptedException, RunStoppedException

    return isinstance(error, (RunStopped, RunInterruptedException, RunStoppedException, KeyboardInterrupt))


def stop_requested() -> bool:
    return bool(_received)


def request_stop(signum: int) -> None:
    """What the signal handler does first: every later `raise_if_stop_requested` of this run raises. Outside a
    run (`recording_signals`) there is nothing to stop."""
    if _received is not None:
        _received.append(signum)


def raise_if_stop_requested(where: str) -> None:
    """Call between units of work (a chunk of LLM requests, an embedding round, a training step)."""
    if _received:
        raise RunStopped(signal.Signals(_received[0]).name, where)


def stop_reason(signal_name: str, step_name: str | None) -> str:
    """What the run records (status reason and `stopped` metadata) and the CLI prints."""
    return f"stopped by {signal_name} " + (f"in step {step_name}" if step_name else "between steps")


def _record(signum: int, frame: FrameType | None) -> None:
    request_stop(signum)
    if _received is not None and len(_received) > 1:  # asked twice: stop now, without the orderly shutdown
        os.write(2, f"\n{signal.Signals(signum).name} again: exiting at once\n".encode())
        os._exit(128 + signum)
    if not _inside_step():  # between steps nobody else raises: stop the pipeline here
        raise KeyboardInterrupt(signal.Signals(signum).name)
    _mark_run_stopping(signal.Signals(signum).name)


def _inside_step() -> bool:
    # During a step ZenML's handler is installed and calls this one after raising its own interruption.
    return signal.getsignal(signal.SIGTERM) is not _record


def _mark_run_stopping(signal_name: str) -> None:
    """Before the interruption reaches ZenML's step runner: with the run `stopping`, ZenML files the failing step
    as `stopped`, then the run, and creates no later step. Best effort: the CLI records the stop in any case."""
    try:
        from zenml import get_step_context
        from zenml.client import Client
        from zenml.enums import ExecutionStatus
        from zenml.models import StepRunUpdate
        from zenml.orchestrators.publish_utils import publish_pipeline_run_status_update

        context = get_step_context()
        reason = stop_reason(signal_name, context.step_run.name)
        publish_pipeline_run_status_update(context.pipeline_run.id, ExecutionStatus.STOPPING, status_reason=reason)
        Client().zen_store.update_run_step(context.step_run.id, StepRunUpdate(status=ExecutionStatus.STOPPING))
    except Exception:  # noqa: BLE001 - no step context, or the store refused: the CLI's record still follows
        logging.getLogger(__name__).debug("could not mark the run stopping", exc_info=True)


class _QuietOnceStopping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_received and record.levelno >= logging.WARNING)


@contextmanager
def recording_signals() -> Iterator[list[int]]:
    """For the duration of a run in this process (main thread only, as Python delivers signals there). Yields the
    list of signals received, which outlives the block; the stop request itself ends with it."""
    global _received
    outer, _received = _received, []
    received: list[int] = _received
    previous = {sig: signal.signal(sig, _record) for sig in (signal.SIGTERM, signal.SIGINT)}
    quiet = _QuietOnceStopping()
    for name in ZENML_STEP_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for name in ZENML_STEP_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)
        _received = outer
