"""SIGTERM / SIGINT during a run. ZenML's step signal handler raises `RunInterruptedException` (an `Exception`) in
the main thread wherever the step happens to be; code that turns a failed item into a counted failure (one bad
prompt must not sink its batch) must let it through, or the step goes on for minutes and later steps run.

`llm-engineering run` also records which signal arrived (ZenML calls the handler it replaced), so the run ends
with that signal's exit code and one line saying what stopped and that the next run resumes; a second signal
ends the process at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[int] = []


def is_interruption(error: BaseException) -> bool:
    from zenml.exceptions import RunInterruptedException, RunStoppedException

    return isinstance(error, (RunInterruptedException, RunStoppedException, KeyboardInterrupt))


def received_signal() -> int | None:
    return _received[-1] if _received else None


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) > 1:  # asked twice: stop now, without the orderly shutdown
        os._exit(128 + signum)
    if not _inside_step():  # between steps nobody else raises: stop the pipeline here
        raise KeyboardInterrupt(signal.Signals(signum).name)


def _inside_step() -> bool:
    # During a step ZenML's handler is installed and calls this one after raising its own interruption.
    return signal.getsignal(signal.SIGTERM) is not _record


@contextmanager
def recording_signals() -> Iterator[None]:
    """For the duration of a run in this process (main thread only, as Python delivers signals there)."""
    _received.clear()
    previous = {sig: signal.signal(sig, _record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
