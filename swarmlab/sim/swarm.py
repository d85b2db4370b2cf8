"""The whole swarm in the simulator: managers over Raft, the control plane, fake agents.

Theory of operation: each manager is a simulated Raft server whose state machine
is a `MemoryStore`, with a `Manager` on top (its reconcile loop runs on the Raft
leader every `tick_s`). A store write proposes through `SimProposer`, which
runs the virtual clock until the entry is applied on this manager (the real
agent's control thread waits the same way); while a manager waits it is busy,
and its ticks and agents' calls to it wait too, as jobs queue on the real
control thread. Workers are `SimAgent`s: the production worker logic
(`agent.reconcile.plan`) over the fake runtime (`runtime.fake`), which moves each
assigned task one state per step and can be scripted to fail. Agents talk
only to the manager that leads, and only across the simulated network, so a
partition or a dead leader cuts them off exactly as it would a real node.
Everything comes from one seed.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from ..agent.inprocess import InProcessWorker
from ..profiles import LAB, TimingProfile
from ..objects import NodeDescription, NodeRole, SequenceError, SwarmError, TaskState
from ..manager import Manager
from ..raft.core import NotLeader, ProposalDropped
from ..raft.messages import Role
from ..store import MemoryStore, ProposalNotApplied, StoreMachine
from ..runtime.fake import FakeExecutor
from .cluster import RaftSimCluster, SimConfig

SNAPSHOT_EVERY = 200


class SimProposer:
    def __init__(self, sim: "SwarmSim", rid: int) -> None:
        self.sim, self.rid = sim, rid

    def propose(self, command: bytes) -> None:
        sim = self.sim
        r = sim.raft.propose(self.rid, command)
        if r is None:
            node = sim.raft.servers[self.rid].node
            raise NotLeader(node.leader if node else 0)
        index, term = r
        mgr = sim.managers[self.rid]
        deadline = sim.now() + 5.0
        mgr.busy += 1
        try:
            while mgr.machine.index < index:  # the store applies it on the way
                if sim.now() >= deadline or not sim.raft.servers[self.rid].alive:
                    raise ProposalNotApplied("the write was not committed in time (no quorum?)")
                sim.raft.run_for(0.005)
        finally:
            mgr.busy -= 1
        node = sim.raft.servers[self.rid].node
        if node is None or node.log.term(index) != term:
            raise ProposalNotApplied("leadership changed before the write was committed")


@dataclass
class SimManager:
    rid: int
    node_id: str
    store: MemoryStore
    machine: StoreMachine
    manager: Manager
    busy: int = 0


@dataclass
class SimAgent:
    """A node's agent: the production worker logic over the fake runtime."""

    node_id: str
    rid: int  # its address on the simulated network
    clock: Any  # the simulator's (now_ns): the runtime's status timestamps
    alive: bool = True
    session: str = ""
    session_with: int = 0
    fail_images: set[str] = field(default_factory=set)
    worker: InProcessWorker = field(init=False)

    def __post_init__(self) -> None:
        self.boot()

    def boot(self) -> None:
        """A fresh runtime, as a node's start finds it: no task of before runs."""
        clock = self.clock
        self.worker = InProcessWorker(self.node_id, FakeExecutor(
            self.node_id, clock=lambda: clock.now_ns() / 1e9, fail_images=self.fail_images))


class SwarmSim:
    def __init__(self, seed: int, managers: int = 3, workers: int = 2, tick_s: float = 0.1,
                 profile: TimingProfile = LAB) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.tick_s = tick_s
        self.managers: dict[int, SimManager] = {}
        self.raft = RaftSimCluster(managers, seed, SimConfig(count_bytes=False),
                                   make_sm=self._make_machine)
        self.clock = self.raft.clock  # the control plane's `Clock` too (now_ns)
        self.agents: dict[str, SimAgent] = {}
        self.names: dict[str, str] = {}  # node id -> hostname
        self.profile = profile
        self._bootstrap(managers, workers)

    # -- building --------------------------------------------------------------------------
    def _make_machine(self, rid: int) -> StoreMachine:
        mgr = self.managers.get(rid)
        if mgr is None:
            store = MemoryStore(proposer=SimProposer(self, rid), clock=None, name=f"m{rid}")
            machine = StoreMachine(store, SNAPSHOT_EVERY)
            node_id = f"manager{rid:02d}" + "x" * 15
            mgr = SimManager(rid, node_id, store, machine, None)  # type: ignore[arg-type]
            self.managers[rid] = mgr
            return machine
        # a restart: a fresh store, rebuilt from the snapshot and the log
        mgr.store = MemoryStore(proposer=SimProposer(self, rid), clock=self.clock,
                                name=f"m{rid}-{self.raft.servers[rid].incarnation}")
        mgr.machine = StoreMachine(mgr.store, SNAPSHOT_EVERY)
        mgr.manager = self._new_manager(mgr)
        return mgr.machine

    def _new_manager(self, mgr: SimManager) -> Manager:
        return Manager(mgr.store, self.clock, random.Random(self.rng.getrandbits(64)),
                       node_id=mgr.node_id, membership=None, profile=self.profile,
                       is_leader=lambda r=mgr.rid: self._is_leader(r))

    def _bootstrap(self, managers: int, workers: int) -> None:
        for mgr in self.managers.values():
            mgr.store.clock = self.clock
            mgr.manager = self._new_manager(mgr)
        leader = self.wait_leader()
        first = self.managers[leader]
        first.manager.init(f"node{leader}", f"10.0.0.{leader}:2377")
        self.names[first.manager.node_id] = f"node{leader}"
        tokens = first.store.view().cluster().join_tokens
        for rid in sorted(self.managers):
            if rid == leader:
                continue
            node = first.manager.join(tokens.manager, f"node{rid}", f"10.0.0.{rid}:2377",
                                      node_id=self.managers[rid].node_id)
            self.names[node.id] = f"node{rid}"
        for rid, mgr in self.managers.items():
            self.agents[mgr.node_id] = SimAgent(mgr.node_id, rid, self.clock)
        for k in range(workers):
            rid = 100 + k
            node = first.manager.join(tokens.worker, f"worker{k + 1}", f"10.0.1.{k + 1}:2377")
            self.names[node.id] = f"worker{k + 1}"
            self.agents[node.id] = SimAgent(node.id, rid, self.clock)
        self.raft.clock.after(self.tick_s, self._tick_all)
        self.run_until(lambda: self.ready_nodes() == len(self.agents), 10.0)

    # -- driving ----------------------------------------------------------------------------
    def now(self) -> float:
        return self.raft.clock.now()

    def run_for(self, seconds: float) -> None:
        self.raft.run_for(seconds)

    def run_until(self, pred, timeout: float, step: float = 0.05) -> bool:
        return self.raft.run_until(pred, timeout, step)

    def _is_leader(self, rid: int) -> bool:
        s = self.raft.servers[rid]
        return s.node is not None and s.node.role is Role.LEADER

    def leader(self) -> int | None:
        ls = self.raft.leaders()
        return ls[0] if ls else None

    def wait_leader(self, timeout: float = 10.0) -> int:
        """A leader that has committed an entry of its term and applied everything it
        committed (so its store is current: what the API reads)."""
        assert self.run_until(self._leader_current, timeout), "no leader"
        return self.leader()  # type: ignore[return-value]

    def _leader_current(self) -> bool:
        rid = self.leader()
        if rid is None:
            return False
        node = self.raft.servers[rid].node
        c = node.log.committed
        return node.log.term(c) == node.term and self.managers[rid].machine.index >= c

    def _tick_all(self) -> None:
        for rid, mgr in self.managers.items():
            if self.raft.servers[rid].alive and mgr.busy == 0 and self._is_leader(rid):
                self._call(mgr, mgr.manager.tick)
        for agent in list(self.agents.values()):
            self._agent_step(agent)
        self.raft.clock.after(self.tick_s, self._tick_all)

    def _call(self, mgr: SimManager, fn, *args) -> Any:
        try:
            return fn(*args)
        except (NotLeader, ProposalDropped, SwarmError):
            return None  # refused or lost (e.g. a stale write): the next tick retries

    # -- fake agents ---------------------------------------------------------------------------
    def _reachable_leader(self, agent: SimAgent) -> SimManager | None:
        rid = self.leader()
        if rid is None or not self.raft.net.can_pass(agent.rid, rid):
            return None
        mgr = self.managers[rid]
        return None if mgr.busy else mgr

    def _agent_step(self, agent: SimAgent) -> None:
        if not agent.alive:
            return
        if agent.rid in self.managers and not self.raft.servers[agent.rid].alive:
            return  # a manager's own agent dies with it
        mgr = self._reachable_leader(agent)
        if mgr is None:
            return
        d = mgr.manager.dispatcher
        try:
            if not agent.session or agent.session_with != mgr.rid:
                agent.session = d.register(agent.node_id, addr=f"sim:{agent.rid}")
                agent.session_with = mgr.rid
            d.heartbeat(agent.node_id, agent.session)
            work = d.assignments(agent.node_id, agent.session)
            reports = agent.worker.step(work.tasks, work.secrets, work.configs)
            if reports:
                d.update_task_status(agent.node_id, agent.session, reports)
        except (NotLeader, ProposalDropped, ProposalNotApplied, SequenceError):
            pass
        except Exception as e:  # noqa: BLE001 - e.g. session invalid after a leader change
            if "session" in str(e).lower():
                agent.session = ""
            else:
                raise

    # -- faults --------------------------------------------------------------------------------
    def kill(self, node_id: str) -> None:
        agent = self.agents[node_id]
        agent.alive = False
        if agent.rid in self.managers:
            self.raft.crash(agent.rid)

    def restart(self, node_id: str) -> None:
        agent = self.agents[node_id]
        agent.alive, agent.session = True, ""
        agent.boot()
        if agent.rid in self.managers and not self.raft.servers[agent.rid].alive:
            self.raft.start(agent.rid)

    def partition(self, *node_ids: str) -> None:
        self.raft.net.partition({self.agents[n].rid for n in node_ids})

    def heal(self) -> None:
        self.raft.net.heal()

    # -- reading -------------------------------------------------------------------------------
    def any_manager(self) -> SimManager:
        rid = self.leader() if self._leader_current() else None
        if rid is None:
            rid = next(r for r in self.managers if self.raft.servers[r].alive)
        return self.managers[rid]

    def api(self) -> Manager:
        """The leader's control plane (as the API would forward to it)."""
        rid = self.wait_leader()
        return self.managers[rid].manager

    def view(self) -> Any:
        return self.any_manager().store.view()

    def ready_nodes(self) -> int:
        from ..objects import NodeState
        return sum(1 for n in self.view().nodes() if n.status.state == NodeState.READY)

    def running(self, service: str) -> list[Any]:
        v = self.view()
        svc = next((s for s in v.services() if s.spec.name == service), None)
        if svc is None:
            return []
        return [t for t in v.tasks(svc.id)
                if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING]

    def node_id(self, hostname: str) -> str:
        return next(i for i, n in self.names.items() if n == hostname)

    def describe(self) -> str:
        return json.dumps({"seed": self.seed, "leader": self.leader(), "t": round(self.now(), 3)})


__all__ = ["SwarmSim", "SimAgent", "NodeDescription", "NodeRole"]
