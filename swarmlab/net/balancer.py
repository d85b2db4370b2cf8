"""Choosing a backend for one connection (pure: time is passed in).

Theory of operation:
- The agent feeds the list of a service's task endpoints that are running and
  healthy (`set_backends`); the balancer keeps per-backend counters across
  updates, so an endpoint that stays keeps its statistics.
- `pick()` chooses by round robin (IPVS's `rr`, Docker's default) or least
  connections (`lc`), skipping endpoints marked down.
- A backend that refused a connection is marked down for `cooldown_s`, so the
  next connections skip it at once, without waiting for the control plane to
  notice the task died; after the cooldown it is tried again.
"""
from __future__ import annotations

from dataclasses import dataclass

Endpoint = tuple[str, int]
STRATEGIES = ("round-robin", "least-connections")


@dataclass(slots=True)
class Backend:
    endpoint: Endpoint
    active: int = 0
    total: int = 0
    failures: int = 0
    down_until: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.endpoint[0]}:{self.endpoint[1]}"

    def up(self, now: float) -> bool:
        return now >= self.down_until


class Balancer:
    def __init__(self, strategy: str = "round-robin", cooldown_s: float = 2.0) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}, expected one of {STRATEGIES}")
        self.strategy = strategy
        self.cooldown_s = cooldown_s
        self._backends: dict[Endpoint, Backend] = {}
        self._order: list[Endpoint] = []
        self._next = 0

    def set_backends(self, endpoints: list[Endpoint]) -> None:
        """Replace the endpoint list; known endpoints keep their counters."""
        order = list(dict.fromkeys((str(a), int(p)) for a, p in endpoints))
        self._backends = {e: self._backends.get(e) or Backend(e) for e in order}
        self._order = order
        if self._order:
            self._next %= len(self._order)

    @property
    def backends(self) -> list[Backend]:
        return [self._backends[e] for e in self._order]

    def pick(self, now: float, exclude: set[Endpoint] = frozenset()) -> Backend | None:
        """The backend for the next connection, or None if none is usable."""
        candidates = [e for e in self._order if e not in exclude and self._backends[e].up(now)]
        if not candidates:
            return None
        if self.strategy == "least-connections":
            return min((self._backends[e] for e in candidates), key=lambda b: (b.active, b.total))
        for _ in range(len(self._order)):
            endpoint = self._order[self._next % len(self._order)]
            self._next = (self._next + 1) % len(self._order)
            if endpoint in candidates:
                return self._backends[endpoint]
        return None  # unreachable: candidates is a subset of _order

    def connected(self, backend: Backend) -> None:
        backend.active += 1
        backend.total += 1
        backend.down_until = 0.0

    def closed(self, backend: Backend) -> None:
        backend.active = max(0, backend.active - 1)

    def refused(self, backend: Backend, now: float) -> None:
        backend.failures += 1
        backend.down_until = now + self.cooldown_s
