"""A whole Raft cluster in one process, on virtual time, from one seed.

Theory of operation: every node is a pure `RaftNode` with a `MemoryStorage`
that outlives it (a crash drops the node object, a restart builds a new one
from what was saved). A `VirtualClock` fires ticks and message arrivals in
time order; after each event the node's `Ready` is handled at once, in the
order `Ready` prescribes (persist, send, apply, advance). All randomness
(timeouts, delays, losses) comes from PRNGs derived from the seed, so the same
seed gives the same run. A `RaftChecker` sees every step.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ..clock import VirtualClock
from ..raft.core import Config, NotLeader, ProposalDropped, RaftNode
from ..raft.fsm import StateMachine
from ..raft.messages import Entry, Message, Role, Snapshot
from ..raft.storage import MemoryStorage
from ..raft.trace import TraceEvent, TraceRecorder
from .invariants import RaftChecker
from .network import SimNetwork


class LogMachine:
    """The simplest state machine: the list of applied entries' data."""

    def __init__(self) -> None:
        self.applied: dict[int, bytes] = {}

    def restore(self, snapshot: Snapshot) -> None:
        self.applied = {}

    def apply(self, entry: Entry) -> None:
        self.applied[entry.index] = entry.data

    def snapshot(self) -> tuple[int, bytes] | None:
        return None


@dataclass
class SimServer:
    id: int
    storage: MemoryStorage
    rng: random.Random
    node: RaftNode | None = None
    sm: StateMachine | None = None
    incarnation: int = 0

    @property
    def alive(self) -> bool:
        return self.node is not None


@dataclass
class SimConfig:
    tick_s: float = 0.05
    election_tick: int = 10
    heartbeat_tick: int = 2
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 64
    trace: bool = False
    check: bool = True
    count_bytes: bool = True


class RaftSimCluster:
    def __init__(self, n: int, seed: int, config: SimConfig | None = None,
                 make_sm: Callable[[int], StateMachine] = lambda i: LogMachine(),
                 ids: list[int] | None = None) -> None:
        self.seed = seed
        self.cfg = config or SimConfig()
        self.rng = random.Random(seed)
        self.clock = VirtualClock()
        self.net = SimNetwork(self.clock, random.Random(self.rng.getrandbits(64)),
                              self._deliver, count_bytes=self.cfg.count_bytes)
        self.make_sm = make_sm
        self.checker = RaftChecker() if self.cfg.check else None
        self.trace = TraceRecorder(self.clock.now) if self.cfg.trace else None
        self.ids = ids or list(range(1, n + 1))
        self.servers: dict[int, SimServer] = {
            i: SimServer(i, MemoryStorage(), random.Random(self.rng.getrandbits(64)))
            for i in self.ids}
        for i in self.ids:
            self.start(i, peers=tuple(self.ids))

    # -- life cycle ------------------------------------------------------------
    def start(self, i: int, peers: tuple[int, ...] = ()) -> None:
        """Start (or restart) server i from its storage."""
        s = self.servers[i]
        assert s.node is None
        state = s.storage.load()
        c = self.cfg
        conf = Config(id=i, election_tick=c.election_tick, heartbeat_tick=c.heartbeat_tick,
                      pre_vote=c.pre_vote, check_quorum=c.check_quorum,
                      max_inflight=c.max_inflight)
        rng = random.Random(s.rng.getrandbits(64))
        s.node = RaftNode(conf, rng, state, peers=peers if state is None else (),
                          tracer=self.trace)
        s.sm = self.make_sm(i)
        if state is not None:
            s.sm.restore(state.snapshot)
        if self.checker:
            self.checker.on_commit(i, s.node.log.committed)
        s.incarnation += 1
        phase = self.rng.random() * c.tick_s
        self.clock.after(phase, self._tick, i, s.incarnation)
        self._process(s)

    def crash(self, i: int) -> None:
        s = self.servers[i]
        s.node = None
        s.sm = None
        if self.trace:
            self.trace(TraceEvent("crash", i, 0, 0, {}))

    def restart(self, i: int) -> None:
        if self.servers[i].alive:
            self.crash(i)
        self.start(i)

    def add_server(self, i: int) -> None:
        """A new, empty server that learns the membership from the leader."""
        self.servers[i] = SimServer(i, MemoryStorage(), random.Random(self.rng.getrandbits(64)))
        self.ids.append(i)
        self.start(i, peers=())

    # -- driving -----------------------------------------------------------------
    def run_for(self, seconds: float) -> None:
        self.clock.run_until(self.clock.now() + seconds)

    def run_until(self, pred: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
        end = self.clock.now() + timeout
        while self.clock.now() < end:
            if pred():
                return True
            self.run_for(step)
        return pred()

    def propose(self, i: int, data: bytes) -> tuple[int, int] | None:
        s = self.servers[i]
        if s.node is None:
            return None
        try:
            r = s.node.propose(data)
        except (NotLeader, ProposalDropped):
            return None
        self._process(s)
        return r

    def with_node(self, i: int, fn: Callable[[RaftNode], object]) -> object:
        """Call fn on a live node (e.g. transfer_leadership) and handle its Ready."""
        s = self.servers[i]
        assert s.node is not None
        r = fn(s.node)
        self._process(s)
        return r

    def leaders(self) -> list[int]:
        return [i for i, s in self.servers.items() if s.node and s.node.role is Role.LEADER]

    def live_nodes(self) -> list[RaftNode]:
        return [s.node for s in self.servers.values() if s.node]

    # -- internals ---------------------------------------------------------------
    def _tick(self, i: int, incarnation: int) -> None:
        s = self.servers[i]
        if s.node is None or s.incarnation != incarnation:
            return
        s.node.tick()
        self._process(s)
        self.clock.after(self.cfg.tick_s, self._tick, i, incarnation)

    def _deliver(self, m: Message) -> None:
        s = self.servers.get(m.dst)
        if s is None or s.node is None:
            return
        s.node.step(m)
        self._process(s)

    def _process(self, s: SimServer) -> None:
        node, chk = s.node, self.checker
        assert node is not None and s.sm is not None
        while node.has_ready():
            rd = node.ready()
            s.storage.save(rd.hard_state, rd.entries, rd.snapshot)
            if chk:
                chk.on_entries(s.id, rd.entries)
                if rd.hard_state:
                    chk.on_commit(s.id, rd.hard_state.commit)
                if rd.soft_state and rd.soft_state.role is Role.LEADER:
                    chk.on_leader(node)
            for m in rd.messages:
                self.net.send(m)
            if rd.snapshot is not None:
                s.sm.restore(rd.snapshot)
            for e in rd.committed_entries:
                s.sm.apply(e)
            if chk and rd.committed_entries:
                chk.on_apply(s.id, rd.committed_entries)
            node.advance(rd)
            snap = s.sm.snapshot()
            if snap is not None:
                node.compact(*snap)
                s.storage.compact(node.log.snapshot)

    def check_logs(self) -> None:
        if self.checker:
            self.checker.check_logs(self.live_nodes())
