"""Time as a protocol: real for processes, virtual for the simulator.

Core logic never reads the wall clock; it is handed a `Clock`. The simulator's
`VirtualClock` only moves when the simulation says so, which is what makes a
seed replay exactly.
"""
from __future__ import annotations

import heapq
import time
from typing import Any, Callable, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary epoch."""


class RealClock:
    def now(self) -> float:
        return time.monotonic()


class WallClock:
    """Seconds since the Unix epoch, for timestamps shown to people (CreatedAt...)."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """A clock plus an event queue: `at()`/`after()` schedule callbacks, `run_until()`
    fires them in time order (ties in scheduling order), moving `now` as it goes."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._queue: list[tuple[float, int, Callable[..., Any], tuple]] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    def at(self, t: float, fn: Callable[..., Any], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (max(t, self._now), self._seq, fn, args))

    def after(self, dt: float, fn: Callable[..., Any], *args: Any) -> None:
        self.at(self._now + dt, fn, *args)

    def run_until(self, t: float) -> None:
        q = self._queue
        while q and q[0][0] <= t:
            when, _, fn, args = heapq.heappop(q)
            self._now = when
            fn(*args)
        self._now = max(self._now, t)

    def pending(self) -> int:
        return len(self._queue)
