"""RaftScope's scenarios, played on the deterministic simulator.

Theory of operation: each scenario builds a `RaftSimCluster` from one seed with
tracing on, drives it through a short story (start, wait for a leader, kill it,
partition...) using only the simulator's public controls, and returns a
`ScenarioRun`: the recorded `TraceEvent`s plus the moments the story acted
(`Mark`s). The same name and seed give the same run, event for event, so a
notebook's animation looks the same every time it is played.

Time is virtual: a scenario "lasting" four seconds runs in a few milliseconds.
The cluster's timing is the simulator's default: a 50 ms tick, heartbeats
every 2 ticks, an election timeout drawn from [10, 20) ticks (0.5 s to 1 s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..raft.trace import TraceEvent
from ..sim.cluster import RaftSimCluster, SimConfig

#: how long a scenario waits at most for a leader, in virtual seconds
LEADER_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class Mark:
    """Something the scenario did to the cluster, at a virtual time."""

    time: float
    text: str


@dataclass
class ScenarioRun:
    name: str
    seed: int
    n: int
    events: list[TraceEvent]
    marks: list[Mark] = field(default_factory=list)
    #: final status of every live node (RaftNode.status()), by node id
    final: dict[int, dict] = field(default_factory=dict)
    #: scenario-specific facts (which node was killed, which term split...)
    facts: dict = field(default_factory=dict)


class _Story:
    """A cluster plus the marks of what was done to it."""

    def __init__(self, name: str, n: int, seed: int, config: SimConfig) -> None:
        self.name, self.n, self.seed = name, n, seed
        self.c = RaftSimCluster(n, seed, config)
        self.marks: list[Mark] = []
        self.facts: dict = {}

    def mark(self, text: str) -> None:
        self.marks.append(Mark(round(self.c.clock.now(), 6), text))

    def wait_leader(self, exclude: tuple[int, ...] = ()) -> int:
        """Run until exactly one live leader (not in `exclude`) exists; return it."""
        c = self.c
        ok = c.run_until(lambda: len([i for i in c.leaders() if i not in exclude]) == 1,
                         LEADER_WAIT_S)
        if not ok:
            raise RuntimeError(f"scenario {self.name} seed {self.seed}: no leader elected")
        return next(i for i in c.leaders() if i not in exclude)

    def propose(self, leader: int, data: bytes) -> None:
        if self.c.propose(leader, data) is not None:
            self.mark(f"client writes {data.decode()} to node{leader}")

    def done(self) -> ScenarioRun:
        c = self.c
        assert c.trace is not None
        final = {i: s.node.status() for i, s in c.servers.items() if s.node is not None}
        return ScenarioRun(self.name, self.seed, self.n, list(c.trace.events),
                           self.marks, final, self.facts)


def _config(**kw) -> SimConfig:
    return SimConfig(trace=True, **kw)


def first_election(seed: int = 1, n: int = 3) -> ScenarioRun:
    """All managers start as followers; the first to time out becomes the leader."""
    s = _Story("first election", n, seed, _config())
    s.mark("managers start as followers")
    s.facts["leader"] = s.wait_leader()
    s.mark(f"node{s.facts['leader']} is the leader")
    s.c.run_for(0.5)  # a few heartbeats
    return s.done()


def log_replication(seed: int = 1, n: int = 3, writes: int = 3) -> ScenarioRun:
    """Entries go through the leader, are replicated, then committed by a majority.

    One follower is cut off for a while: writes still commit with a majority,
    and the follower catches up when it is reconnected."""
    s = _Story("log replication and commit", n, seed, _config())
    c = s.c
    leader = s.wait_leader()
    c.run_for(0.3)
    for k in range(writes):
        s.propose(leader, b"x=%d" % (k + 1))
        c.run_for(0.2)
    lagging = next(i for i in c.ids if i != leader)
    c.net.disconnect(lagging)
    s.mark(f"node{lagging} is disconnected")
    for k in range(writes, writes + 2):
        s.propose(leader, b"x=%d" % (k + 1))
        c.run_for(0.2)
    c.net.connect(lagging)
    s.mark(f"node{lagging} is reconnected")
    c.run_for(0.5)
    s.facts.update(leader=leader, lagging=lagging, writes=writes + 2)
    return s.done()


def kill_the_leader(seed: int = 1, n: int = 5) -> ScenarioRun:
    """The leader crashes; the followers stop hearing heartbeats, one times out and
    wins a new term. The old leader comes back as a follower of that term."""
    s = _Story("kill the leader", n, seed, _config())
    c = s.c
    old = s.wait_leader()
    c.run_for(0.5)
    s.propose(old, b"x=1")
    c.run_for(0.3)
    c.crash(old)
    s.mark(f"node{old} (the leader) is killed")
    s.facts["killed_at"] = c.clock.now()
    new = s.wait_leader(exclude=(old,))
    s.mark(f"node{new} is the new leader")
    c.run_for(0.3)
    s.propose(new, b"x=2")
    c.run_for(0.5)
    c.start(old)
    s.mark(f"node{old} restarts")
    c.run_for(1.0)
    s.facts.update(old_leader=old, new_leader=new)
    return s.done()


def _align_timers(c: RaftSimCluster, nodes: list[int]) -> None:
    """RaftScope's "align timers": every election timer restarts now, with the
    same timeout, so the nodes time out in the same tick."""
    timeout = c.cfg.election_tick

    def align(node) -> None:
        node.election_elapsed = 0
        node.randomized_timeout = timeout

    for i in nodes:
        c.with_node(i, align)


def split_vote(seed: int = 1, n: int = 5) -> ScenarioRun:
    """The leader dies and every survivor's timer is aligned: they all become
    candidates of the same term, each votes for itself, and nobody gets a
    majority. Randomized timeouts then break the tie in a later term.

    As in RaftScope, this Raft runs without pre-vote and messages take longer
    than a tick (60-90 ms), so the candidates cannot hear each other before
    they all time out."""
    s = _Story("split vote", n, seed, _config(pre_vote=False))
    c = s.c
    c.net.delay = (0.06, 0.09)
    old = s.wait_leader()
    c.run_for(0.5)
    c.crash(old)
    s.mark(f"node{old} (the leader) is killed")
    survivors = [i for i in c.ids if i != old]
    _align_timers(c, survivors)
    s.mark("the survivors' election timers are aligned")
    s.facts["split_term"] = max(c.servers[i].node.term for i in survivors) + 1
    new = s.wait_leader(exclude=(old,))
    s.mark(f"node{new} is the leader")
    c.run_for(0.5)
    s.facts.update(old_leader=old, new_leader=new, survivors=survivors)
    return s.done()


def partition_minority(seed: int = 1, n: int = 5) -> ScenarioRun:
    """The leader ends up in a minority partition. It cannot commit, and steps down
    (check-quorum); the majority elects a leader of a higher term and keeps
    committing. When the network heals, the minority's uncommitted entry is
    replaced by the majority's log."""
    s = _Story("partition the minority", n, seed, _config())
    c = s.c
    old = s.wait_leader()
    c.run_for(0.5)
    s.propose(old, b"x=1")
    c.run_for(0.3)
    buddy = next(i for i in c.ids if i != old)
    minority = {old, buddy}
    majority = set(c.ids) - minority
    c.net.partition(minority, majority)
    s.mark(f"partition: {_names(minority)} | {_names(majority)}")
    s.propose(old, b"lost=1")
    new = s.wait_leader(exclude=(old,))
    s.mark(f"node{new} leads the majority")
    s.propose(new, b"x=2")
    c.run_for(1.0)
    c.net.heal()
    s.mark("the network heals")
    c.run_for(1.0)
    s.facts.update(old_leader=old, new_leader=new, minority=sorted(minority),
                   majority=sorted(majority))
    return s.done()


def _names(ids: set[int]) -> str:
    return ",".join(f"node{i}" for i in sorted(ids))


SCENARIOS: dict[str, Callable[..., ScenarioRun]] = {
    "first-election": first_election,
    "log-replication": log_replication,
    "kill-the-leader": kill_the_leader,
    "split-vote": split_vote,
    "partition-minority": partition_minority,
}


def run(name: str, seed: int = 1, **kw) -> ScenarioRun:
    """Run a scenario by name (see SCENARIOS)."""
    try:
        fn = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})")
    return fn(seed=seed, **kw)
