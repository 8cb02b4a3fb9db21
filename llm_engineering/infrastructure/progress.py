"""Progress of a long loop (LLM requests, training steps), readable wherever the output goes.

- On a terminal: a tqdm bar, advanced as each unit finishes. Its rate and time left are the average over the units
  done in this loop: units that were already done (answers from the cache, steps before a resumed checkpoint) count
  towards the total, not towards the speed, so the time left is not absurd. The bar is drawn on the terminal itself,
  not through `sys.stderr`, which ZenML stores line by line, at ERROR level, in the step's logs.
- Piped or captured (a log file, `| tee`, CI): no redraws. One line on stdout when the first unit is done, then at
  most every `interval_s` seconds (default: LLM_ENGINEERING_PROGRESS_INTERVAL_S, 30), e.g.
  `generating (local:...): 48/139 requests (35%), 12.3 s/request, about 18m40s left`.
- Either way, one line on stdout at the end (also in ZenML's stored logs, at INFO): how many, in how long.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from llm_engineering.settings import get_settings

_terminal_stream: TextIO | None = None


def terminal() -> TextIO | None:
    """The terminal stderr is attached to, as a stream of its own (ZenML does not capture it); None when stderr is
    not a terminal (piped, a file, pytest's capture)."""
    global _terminal_stream
    try:
        if not sys.stderr.isatty():
            return None
        if _terminal_stream is None:
            _terminal_stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8")
        return _terminal_stream
    except (AttributeError, OSError, ValueError):  # a replaced stderr without a file descriptor
        return None


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """A count of finished units out of `total`; `done` of them were finished before this loop started."""

    def __init__(
        self,
        total: int,
        description: str,
        unit: str,
        *,
        done: int = 0,
        done_as: str = "done before",
        enabled: bool = True,
        interval_s: float | None = None,
        out: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.description, self.unit, self.done_as = total, description, unit, done_as
        self.n = self.initial = done
        self.postfix = ""
        self.enabled = enabled and total > 0
        self._interval_s = get_settings().progress_interval_s if interval_s is None else interval_s
        self._clock = clock
        self._out = out or (lambda line: print(line, flush=True))
        self._start = clock()
        self._last_line: float | None = None
        self._bar: Any = None
        stream = terminal() if self.enabled else None
        if stream is not None:
            from tqdm.auto import tqdm

            # smoothing=0: the average rate since the start, over the units done here (tqdm excludes `initial`).
            self._bar = tqdm(total=total, initial=done, desc=description, unit=unit, file=stream, leave=False,
                             smoothing=0, dynamic_ncols=True)  # fmt: skip

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, count: int = 1) -> None:
        if not self.enabled or count <= 0:
            return
        self.n += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = self._clock()
        if self._last_line is None or now - self._last_line >= self._interval_s:
            self._last_line = now
            self._out(self.status())

    def set_postfix(self, text: str) -> None:
        self.postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def clear(self) -> None:
        """Take the bar off the terminal line, so that a line printed next starts clean (the next update redraws it)."""
        if self._bar is not None:
            self._bar.clear()

    def rate(self) -> float | None:
        """Seconds per unit, over the units done in this loop."""
        counted = self.n - self.initial
        return (self._clock() - self._start) / counted if counted > 0 else None

    def status(self) -> str:
        line = f"{self.description}: {self.n}/{self.total} {self.unit}s ({self.n / self.total:.0%})"
        rate = self.rate()
        if rate is not None:
            line += f", {rate:.1f} s/{self.unit}, about {duration(rate * (self.total - self.n))} left"
        return line + (f", {self.postfix}" if self.postfix else "")

    def summary(self) -> str:
        elapsed = self._clock() - self._start
        line = f"{self.description}: {self.n}/{self.total} {self.unit}s in {duration(elapsed)}"
        rate = self.rate()
        details = [f"{rate:.1f} s/{self.unit}"] if rate is not None else []
        if self.initial:
            details.append(f"{self.initial} {self.done_as}")
        if self.postfix:
            details.append(self.postfix)
        return line + (f" ({'; '.join(details)})" if details else "")

    def close(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._bar is not None:
            self._bar.close()
        self._out(self.summary())
