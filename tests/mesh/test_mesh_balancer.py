"""The balancer's rules, without sockets or clocks."""
from __future__ import annotations

import pytest

from swarmlab.mesh import Balancer

A, B, C = ("127.1.0.1", 80), ("127.1.0.2", 80), ("127.1.0.3", 80)


def picks(bal: Balancer, n: int, now: float = 0.0) -> list:
    out = []
    for _ in range(n):
        backend = bal.pick(now)
        out.append(backend and backend.endpoint)
    return out


def test_round_robin_cycles_in_order():
    bal = Balancer()
    bal.set_backends([A, B, C])
    assert picks(bal, 6) == [A, B, C, A, B, C]


def test_refused_backend_is_skipped_for_the_cooldown_then_tried_again():
    bal = Balancer(cooldown_s=2.0)
    bal.set_backends([A, B, C])
    bal.refused(bal.pick(10.0), 10.0)  # A refused at t=10
    assert A not in picks(bal, 6, now=11.9)
    assert A in picks(bal, 3, now=12.0)


def test_exclude_gives_failover_within_one_connection():
    bal = Balancer()
    bal.set_backends([A, B])
    first = bal.pick(0.0)
    second = bal.pick(0.0, {first.endpoint})
    assert {first.endpoint, second.endpoint} == {A, B}
    assert bal.pick(0.0, {A, B}) is None


def test_least_connections_prefers_the_idle_backend():
    bal = Balancer("least-connections")
    bal.set_backends([A, B, C])
    for _ in range(3):
        bal.connected(bal._backends[A])
    bal.connected(bal._backends[B])
    assert bal.pick(0.0).endpoint == C
    bal.connected(bal._backends[C])
    bal.connected(bal._backends[C])
    assert bal.pick(0.0).endpoint == B


def test_updates_keep_counters_of_backends_that_stay():
    bal = Balancer()
    bal.set_backends([A, B])
    bal.connected(bal._backends[A])
    bal.set_backends([B, A, C, A])  # duplicates collapse
    assert [b.endpoint for b in bal.backends] == [B, A, C]
    assert bal._backends[A].total == 1 and bal._backends[C].total == 0
    bal.set_backends([])
    assert bal.pick(0.0) is None


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        Balancer("random")
