"""Time comes from outside: one `Clock` protocol, a wall clock and the simulated ones.

The cores (store, manager, dispatcher, orchestrators) never read the wall clock; they
are handed a `Clock`, as trio injects one into `run()`. A real process passes
`WallClock()`; the unit tests move a `ManualClock` by hand; the simulator's
`VirtualClock` only moves when the simulation says so (it also orders the simulated
events), which is what makes a seed replay exactly. Only this module reads real time.
"""
from __future__ import annotations

import heapq
import time
from typing import Any, Callable, Protocol

NS = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch (real or simulated)."""
        ...


class WallClock:
    """Real time, for real processes only (never used by the cores themselves)."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told: the tests' time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> int:
        self._now += int(round(seconds * NS))
        return self._now

    def set(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError("a clock never moves backward")
        self._now = now_ns


class VirtualClock:
    """A clock plus an event queue: `at()`/`after()` schedule callbacks, `run_until()`
    fires them in time order (ties in scheduling order), moving `now` as it goes.

    `now()` is seconds since the simulation began (what traces and the network use);
    `now_ns()` is the same instant as a `Clock` on a fixed date (`epoch_ns`, 2023-11-14),
    so the control plane's timestamps look like real ones and still replay exactly."""

    def __init__(self, start: float = 0.0, epoch_ns: int = 1_700_000_000 * NS) -> None:
        self._now = start
        self.epoch_ns = epoch_ns
        self._queue: list[tuple[float, int, Callable[..., Any], tuple]] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    def now_ns(self) -> int:
        return int(self._now * NS) + self.epoch_ns

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
