"""Timing profiles: how long a tick is in real time, how many ticks make a heartbeat and an
election timeout, and the node-level periods that follow from them.

One `TimingProfile` object is passed from the node's entry point to everything that needs
a period (Raft's shell, the dispatcher, the control plane, the worker); only the edges
(argv, the CLI, a lab's record) hold its name."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimingProfile:
    name: str
    tick_ms: int
    heartbeat_tick: int
    election_tick: int
    #: the dispatcher's agent heartbeat period (Docker: 5 s)
    dispatcher_heartbeat_ms: int
    #: how long a node waits between taking a running task out of the routing mesh and
    #: stopping it, so every node's mesh has let go of it first (dockerd's
    #: `defaultGossipConvergeDelay`, 2 s; the lab's meshes refresh every 0.2 s)
    converge_delay_ms: int

    @property
    def election_timeout_ms(self) -> tuple[int, int]:
        """Followers wait a random time in [low, high) before campaigning."""
        return (self.tick_ms * self.election_tick, 2 * self.tick_ms * self.election_tick)


PROFILES: dict[str, TimingProfile] = {
    # A lost leader is replaced in about a second. Elections wait 0.5-1 s: with 0.3-0.6 s
    # a Python leader starved on 2 shared cores (20 containers starting) lost leadership
    # to a healthy cluster's followers (compare_swarm: term 1 -> 2 within 10 s).
    "lab": TimingProfile("lab", tick_ms=50, heartbeat_tick=1, election_tick=10,
                         dispatcher_heartbeat_ms=1000, converge_delay_ms=500),
    # Docker Swarm's defaults: 1 s tick, heartbeat 1 tick, election 10 ticks.
    "swarm": TimingProfile("swarm", tick_ms=1000, heartbeat_tick=1, election_tick=10,
                           dispatcher_heartbeat_ms=5000, converge_delay_ms=2000),
}


LAB = PROFILES["lab"]
SWARM = PROFILES["swarm"]


def profile(name: str) -> TimingProfile:
    """The profile a name stands for: only the edges (argv, the CLI, a lab's record) hold names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown timing profile {name!r} (choose from {', '.join(PROFILES)})")
