"""Time and identity come from outside: an injected clock and an injected `random.Random`.

The simulator runs on virtual time and replays a seed exactly, so no core module reads
the wall clock or global randomness; a real process passes `WallClock()` and a seeded or
system-random `Random`.
"""
from __future__ import annotations

import random
import string
from typing import Protocol

_ID_ALPHABET = string.ascii_lowercase + string.digits


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the epoch (virtual or real)."""
        ...


class ManualClock:
    """A clock that moves only when told: the tests' and the simulator's time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> int:
        self._now += int(round(seconds * 1_000_000_000))
        return self._now

    def set(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError("a clock never moves backward")
        self._now = now_ns


class WallClock:
    """Real time, for real processes only (never used by the cores themselves)."""

    def now_ns(self) -> int:
        import time
        return time.time_ns()


def new_id(rng: random.Random) -> str:
    """A 25-character lowercase alphanumeric ID, the shape of Docker's object IDs."""
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(25))
