"""RaftScope's scenarios, played on the deterministic simulator.

Theory of operation: each scenario builds a `RaftSimCluster` from one seed with
tracing on, drives it through a short story (start, wait for a leader, kill it,
partition...) using only the simulator's public controls, and returns a
`ScenarioRun`: the recorded `TraceEvent`s plus the moments the story acted
(`Mark`s). The same name and seed give the same run, event for event, so a
notebook's animation looks the same every time it is played.

A run can be played again with faults (`rerun(run, [Fault(...)])`): the same
seed replays the story up to the first fault's time, then the scripted story
stops, the faults (a node stopped or restarted, a message dropped) happen at
their times and the cluster runs on alone, so the new story is the old one up
to that moment. The network's changes are traced too (`net` events), so a
figure can draw a partition as a cut and the messages across it as lost.

Time is virtual: a scenario "lasting" four seconds runs in a few milliseconds.
The cluster's timing is the simulator's default: a 50 ms tick, heartbeats
every 2 ticks, an election timeout drawn from [10, 20) ticks (0.5 s to 1 s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..raft.trace import TraceEvent
from ..sim.cluster import RaftSimCluster, SimConfig

#: how long a scenario waits at most for a leader, in virtual seconds
LEADER_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class Mark:
    """Something the scenario did to the cluster, at a virtual time."""

    time: float
    text: str


#: after the last fault, a rerun goes on at least this long (virtual seconds)
AFTER_FAULT_S = 4.0


@dataclass(frozen=True, slots=True)
class Fault:
    """What a student does to a run at a virtual time: `crash` or `restart` a node, or
    `drop` the first message from `node` to `dst` of `type` sent in [time, time + window)."""

    time: float
    action: str  # "crash", "restart" or "drop"
    node: int
    dst: int = 0
    type: str = ""
    window: float = 0.05


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
    #: the name in SCENARIOS, the tick length (s) and the virtual time the run ended at
    key: str = ""
    tick_s: float = 0.05
    end: float = 0.0
    #: the faults a student added (`rerun`), in time order
    faults: tuple[Fault, ...] = ()


class _Pause(Exception):
    """The scripted story reached the first fault's time."""


class _Cluster(RaftSimCluster):
    """The simulator, stopping the script at `stop_at` (just before it)."""

    stop_at: float | None = None

    def run_for(self, seconds: float) -> None:
        target = self.clock.now() + seconds
        if self.stop_at is not None and target >= self.stop_at:
            self.clock.run_until(self.stop_at)
            raise _Pause
        self.clock.run_until(target)


class _Story:
    """A cluster plus the marks of what was done to it."""

    def __init__(self, name: str, n: int, seed: int, config: SimConfig,
                 faults: Sequence[Fault] = ()) -> None:
        self.name, self.n, self.seed = name, n, seed
        self.faults = tuple(sorted(faults, key=lambda f: f.time))
        self.c = _Cluster(n, seed, config)
        if self.faults:
            self.c.stop_at = self.faults[0].time - 1e-9
        self.marks: list[Mark] = []
        self.facts: dict = {}
        self._drops: list[Fault] = []
        self._send = self.c.net.send
        self.c.net.send = self._net_send  # type: ignore[method-assign]

    def mark(self, text: str) -> None:
        self.marks.append(Mark(round(self.c.clock.now(), 6), text))

    # -- the network, traced ---------------------------------------------------
    def _net(self, action: str, **fields) -> None:
        assert self.c.trace is not None
        self.c.trace(TraceEvent("net", 0, 0, 0, dict(action=action, **fields)))

    def partition(self, *groups: set[int]) -> None:
        self.c.net.partition(*groups)
        self._net("partition", groups=[sorted(g) for g in groups])

    def heal(self) -> None:
        self.c.net.heal()
        self._net("heal")

    def disconnect(self, i: int) -> None:
        self.c.net.disconnect(i)
        self._net("disconnect", node=i)

    def connect(self, i: int) -> None:
        self.c.net.connect(i)
        self._net("connect", node=i)

    def _net_send(self, m) -> None:
        now = self.c.clock.now()
        for f in self._drops:
            if (f.node, f.dst, f.type) == (m.src, m.dst, m.type.name) and \
                    f.time - 1e-9 <= now < f.time + f.window:
                self._drops.remove(f)
                self._net("drop", src=m.src, dst=m.dst, type=m.type.name)
                return
        self._send(m)

    # -- faults ----------------------------------------------------------------
    def play(self, script: Callable[["_Story"], None], until: float = 0.0) -> ScenarioRun:
        """Run the script; with faults, stop it at the first one and play them instead."""
        try:
            script(self)
        except _Pause:
            self._play_faults(until)
        return self.done()

    def _play_faults(self, until: float) -> None:
        c = self.c
        c.stop_at = None
        for f in self.faults:
            if f.action == "drop":  # watched from now: the message may leave at f.time
                self._drops.append(f)
            c.clock.after(max(0.0, f.time - c.clock.now()), self._apply, f)
        c.run_for(max(until, self.faults[-1].time + AFTER_FAULT_S) - c.clock.now())

    def _apply(self, f: Fault) -> None:
        c, name = self.c, f"node{f.node}"
        # marked at the fault's exact time (not rounded), so the mark opens no new frame
        # where the run without the fault had none
        if f.action == "crash" and c.servers[f.node].alive:
            c.crash(f.node)
            self.marks.append(Mark(f.time, f"you stopped {name}"))
        elif f.action == "restart" and not c.servers[f.node].alive:
            c.start(f.node)
            self.marks.append(Mark(f.time, f"you restarted {name}"))
        elif f.action == "drop":
            self.marks.append(Mark(f.time, f"you drop the {f.type} message from {name} "
                                           f"to node{f.dst}"))

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
                           self.marks, final, self.facts, tick_s=c.cfg.tick_s,
                           end=round(c.clock.now(), 6), faults=self.faults)


def _config(**kw) -> SimConfig:
    return SimConfig(trace=True, **kw)


def _first_election(s: _Story) -> None:
    s.mark("managers start as followers")
    s.facts["leader"] = s.wait_leader()
    s.mark(f"node{s.facts['leader']} is the leader")
    s.c.run_for(0.5)  # a few heartbeats


def first_election(seed: int = 1, n: int = 3, faults: Sequence[Fault] = (),
                   until: float = 0.0) -> ScenarioRun:
    """All managers start as followers; the first to time out becomes the leader."""
    s = _Story("first election", n, seed, _config(), faults)
    return _keyed(s.play(_first_election, until), "first-election")


def _log_replication(s: _Story, writes: int) -> None:
    c = s.c
    leader = s.wait_leader()
    c.run_for(0.3)
    for k in range(writes):
        s.propose(leader, b"x=%d" % (k + 1))
        c.run_for(0.2)
    lagging = next(i for i in c.ids if i != leader)
    s.disconnect(lagging)
    s.mark(f"node{lagging} is disconnected")
    for k in range(writes, writes + 2):
        s.propose(leader, b"x=%d" % (k + 1))
        c.run_for(0.2)
    s.connect(lagging)
    s.mark(f"node{lagging} is reconnected")
    c.run_for(0.5)
    s.facts.update(leader=leader, lagging=lagging, writes=writes + 2)


def log_replication(seed: int = 1, n: int = 3, writes: int = 3, faults: Sequence[Fault] = (),
                    until: float = 0.0) -> ScenarioRun:
    """Entries go through the leader, are replicated, then committed by a majority.

    One follower is cut off for a while: writes still commit with a majority,
    and the follower catches up when it is reconnected."""
    s = _Story("log replication and commit", n, seed, _config(), faults)
    return _keyed(s.play(lambda s: _log_replication(s, writes), until), "log-replication")


def _kill_the_leader(s: _Story) -> None:
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


def kill_the_leader(seed: int = 1, n: int = 5, faults: Sequence[Fault] = (),
                    until: float = 0.0) -> ScenarioRun:
    """The leader crashes; the followers stop hearing heartbeats, one times out and
    wins a new term. The old leader comes back as a follower of that term."""
    s = _Story("kill the leader", n, seed, _config(), faults)
    return _keyed(s.play(_kill_the_leader, until), "kill-the-leader")


def _align_timers(c: RaftSimCluster, nodes: list[int]) -> None:
    """RaftScope's "align timers": every election timer restarts now, with the
    same timeout, so the nodes time out in the same tick."""
    timeout = c.cfg.election_tick

    def align(node) -> None:
        node.election_elapsed = 0
        node.randomized_timeout = timeout
        if c.trace is not None:
            c.trace(TraceEvent("timer", node.id, node.term, node.ticks,
                               {"timeout": timeout, "reason": "aligned"}))

    for i in nodes:
        c.with_node(i, align)


def _split_vote(s: _Story) -> None:
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


def split_vote(seed: int = 1, n: int = 5, faults: Sequence[Fault] = (),
               until: float = 0.0) -> ScenarioRun:
    """The leader dies and every survivor's timer is aligned: they all become
    candidates of the same term, each votes for itself, and nobody gets a
    majority. Randomized timeouts then break the tie in a later term.

    As in RaftScope, this Raft runs without pre-vote and messages take longer
    than a tick (60-90 ms), so the candidates cannot hear each other before
    they all time out."""
    s = _Story("split vote", n, seed, _config(pre_vote=False), faults)
    return _keyed(s.play(_split_vote, until), "split-vote")


def _partition_minority(s: _Story) -> None:
    c = s.c
    old = s.wait_leader()
    c.run_for(0.5)
    s.propose(old, b"x=1")
    c.run_for(0.3)
    buddy = next(i for i in c.ids if i != old)
    minority = {old, buddy}
    majority = set(c.ids) - minority
    s.partition(minority, majority)
    s.mark(f"partition: {_names(minority)} | {_names(majority)}")
    s.propose(old, b"lost=1")
    new = s.wait_leader(exclude=(old,))
    s.mark(f"node{new} leads the majority")
    s.propose(new, b"x=2")
    c.run_for(1.0)
    s.heal()
    s.mark("the network heals")
    c.run_for(1.0)
    s.facts.update(old_leader=old, new_leader=new, minority=sorted(minority),
                   majority=sorted(majority))


def partition_minority(seed: int = 1, n: int = 5, faults: Sequence[Fault] = (),
                       until: float = 0.0) -> ScenarioRun:
    """The leader ends up in a minority partition. It cannot commit, and steps down
    (check-quorum); the majority elects a leader of a higher term and keeps
    committing. When the network heals, the minority's uncommitted entry is
    replaced by the majority's log."""
    s = _Story("partition the minority", n, seed, _config(), faults)
    return _keyed(s.play(_partition_minority, until), "partition-minority")


def _keyed(r: ScenarioRun, key: str) -> ScenarioRun:
    r.key = key
    return r


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


def rerun(r: ScenarioRun, faults: Sequence[Fault]) -> ScenarioRun:
    """The run `r` again (same scenario, seed and size) with `faults` added to the ones it
    already had: the same story up to the first fault, then the faults' consequences."""
    if r.key not in SCENARIOS:
        raise ValueError(f"run {r.name!r} was not made by a named scenario")
    allf = tuple(sorted(tuple(r.faults) + tuple(faults), key=lambda f: f.time))
    return SCENARIOS[r.key](seed=r.seed, n=r.n, faults=allf, until=r.end)
