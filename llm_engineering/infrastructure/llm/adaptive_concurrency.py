"""How many requests may be in flight to one OpenAI-compatible endpoint: AIMD between 1 and `max_concurrency`.

A fixed fan-out is right for one server only. A llama.cpp server with one slot answers one request at a time and
queues the rest: 16 in flight with a 60 s timeout means the 16th waits 15 answers long, times out, and its work is
thrown away. So the limit adapts, the way TCP's congestion window does:

- it starts at the ceiling (`max_concurrency`), since a batching server (vLLM, a hosted API) wants it;
- it halves on a sign of overload (a timeout, 429, 502/503/504, a refused or reset connection), at most once per
  round trip: the answers to requests sent before the last cut say nothing about the new limit;
- it shrinks in proportion when answers come back slower than `latency_target_s` (half the timeout: they queued at
  the server), to the fan-out that would have answered within it (in flight x target / latency, at most halved);
- it grows back by one per `limit` answers that came back in time while the limit was in use (additive increase).

The limit is shared by every call of one provider, so a step's chunks of requests (the response cache sends them in
chunks) start where the previous chunk left off. Each asyncio loop waits on its own `Gate`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["answered", "overloaded", "other"]


@dataclass(frozen=True)
class Ticket:
    """One request in flight: when it was sent, with how many in flight (itself included), under which cut."""

    sent_at: float
    in_flight: int
    epoch: int


class AdaptiveLimit:
    """The shared limit (thread-safe): what the gates of every call read and the answers adjust."""

    def __init__(self, ceiling: int, latency_target_s: float, adaptive: bool = True):
        self.ceiling = ceiling
        self.latency_target_s = latency_target_s
        self.adaptive = adaptive
        self._limit = float(ceiling)
        self._epoch = 0  # bumped by each cut
        self._lowest = float(ceiling)
        self._cuts = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """Requests that may be in flight now (at least 1)."""
        with self._lock:
            return max(1, int(self._limit))

    def snapshot(self) -> dict[str, float | int]:
        """What the limit did: now, its lowest, and how many cuts (reported with the provider's usage)."""
        with self._lock:
            return {"concurrency": max(1, int(self._limit)), "lowest": max(1, int(self._lowest)), "cuts": self._cuts}

    def epoch(self) -> int:
        with self._lock:
            return self._epoch

    def record(self, ticket: Ticket, outcome: Outcome, now: float | None = None) -> None:
        if not self.adaptive:
            return
        latency = (time.monotonic() if now is None else now) - ticket.sent_at
        with self._lock:
            current = ticket.epoch == self._epoch  # sent under the present limit
            if outcome == "overloaded":
                if current:
                    self._cut(self._limit / 2)
            elif outcome == "answered":
                if latency > self.latency_target_s:
                    if current and ticket.in_flight > 1:
                        fits = ticket.in_flight * self.latency_target_s / latency  # what would have been on time
                        self._cut(max(min(fits, self._limit), self._limit / 2))
                elif ticket.in_flight >= int(self._limit):  # on time with the limit in use: grow back
                    self._limit = min(float(self.ceiling), self._limit + 1 / self._limit)

    def _cut(self, to: float) -> None:
        to = max(1.0, to)
        if to < self._limit:
            self._limit = to
            self._lowest = min(self._lowest, to)
            self._cuts += 1
            self._epoch += 1


class Gate:
    """The requests of one asyncio loop: wait until fewer than the shared limit are in flight, then send."""

    def __init__(self, shared: AdaptiveLimit):
        self.shared = shared
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> Ticket:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.shared.limit)
            self.in_flight += 1
            return Ticket(time.monotonic(), self.in_flight, self.shared.epoch())

    async def release(self, ticket: Ticket, outcome: Outcome) -> None:
        self.shared.record(ticket, outcome)
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()  # the limit may have grown too: every waiter re-checks
