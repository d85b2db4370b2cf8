"""A whole control plane in one process: one manager, fake agents, a manual clock.

Each fake agent holds a session with the leader's dispatcher in process and runs the
production worker logic (`swarmlab.agent.reconcile.plan`) over the fake runtime
(`swarmlab.runtime.fake`), which moves each task one state per step (accepted, preparing,
ready, starting, running) while it is wanted, and stops it (shutdown) when it is not.
Images script failures: `*:broken` fails after running a few steps, `*:reject` is
rejected, `*:exit0` completes after a few steps. Everything is driven from `step()`;
nothing sleeps, so a test's time is virtual and its result is the same on every run.
"""
from __future__ import annotations

import random

from swarmlab.agent.inprocess import InProcessWorker
from swarmlab.clock import ManualClock
from swarmlab.objects import (
    ContainerSpec, NodeDescription, NodePlatform, NodeRole, NodeState,
    ReplicatedJob, Replicated, ResourceAmounts, ServiceMode, ServiceSpec, Task, TaskSpec,
    TaskState,
)
from swarmlab.dispatcher import SessionInvalid
from swarmlab.manager import Manager
from swarmlab.profiles import LAB
from swarmlab.runtime.fake import FakeExecutor
from swarmlab.store import MemoryStore

NS = 1_000_000_000


class FakeAgent:
    def __init__(self, harness: "Harness", node_id: str) -> None:
        self.h = harness
        self.node_id = node_id
        self.alive = True
        self.session = ""
        self.next_heartbeat = 0
        self.worker = InProcessWorker(node_id, FakeExecutor(
            node_id, clock=lambda: harness.clock.now_ns() / NS))

    def step(self) -> None:
        if not self.alive:
            return
        d = self.h.manager.dispatcher
        try:
            if not self.session:
                self.session = d.register(self.node_id, addr=f"10.0.0.{len(self.node_id)}")
            if self.h.clock.now_ns() >= self.next_heartbeat:
                period = d.heartbeat(self.node_id, self.session)
                self.next_heartbeat = self.h.clock.now_ns() + period
            work = d.assignments(self.node_id, self.session)
            reports = self.worker.step(work.tasks, work.secrets, work.configs)
            if reports:
                d.update_task_status(self.node_id, self.session, reports)
        except SessionInvalid:
            self.session = ""


class Broadcast:
    """Stands in for Raft: every command is applied on every replica, in one order.

    With `asynchronous`, a command is only queued (as a Raft entry waits to commit) and
    applied everywhere at the start of the next step, like a simulator's Raft would."""

    def __init__(self, stores: list[MemoryStore], asynchronous: bool = False,
                 queue: list[bytes] | None = None) -> None:
        self.stores = stores
        self.asynchronous = asynchronous
        self.queue = queue if queue is not None else []

    def propose(self, command: bytes) -> None:
        if self.asynchronous:
            self.queue.append(command)
            return
        for s in self.stores:
            s.apply(command)

    def flush(self) -> None:
        while self.queue:
            command = self.queue.pop(0)
            for s in self.stores:
                s.apply(command)


class Harness:
    def __init__(self, workers: int = 3, seed: int = 0, step_s: float = 0.1,
                 labels: dict[str, dict[str, str]] | None = None, replicas: int = 1,
                 asynchronous: bool = False) -> None:
        self.clock = ManualClock(1_700_000_000 * 1_000_000_000)
        self.rng = random.Random(seed)
        self.stores: list[MemoryStore] = []
        self.managers: list[Manager] = []
        self.leader = 0
        self.raft_queue: list[bytes] = []
        for i in range(replicas):
            proposer = Broadcast(self.stores, asynchronous, self.raft_queue)
            store = MemoryStore(proposer, clock=self.clock, name=f"m{i + 1}")
            self.stores.append(store)
            self.managers.append(Manager(store, self.clock, random.Random(seed * 100 + i),
                                         profile=LAB, is_leader=lambda i=i: self.leader == i))
        self.managers[0].rng = self.rng
        self.step_s = step_s
        self.m1 = self.manager.init("m1", addr="10.0.0.1", description=_desc("m1"))
        self.flush()
        self.agents: dict[str, FakeAgent] = {self.m1: FakeAgent(self, self.m1)}
        self.names = {"m1": self.m1}
        token = self.manager.join_token(NodeRole.WORKER)
        for i in range(1, workers + 1):
            name = f"w{i}"
            node = self.manager.join(token, name, description=_desc(name))
            self.flush()
            self.agents[node.id] = FakeAgent(self, node.id)
            self.names[name] = node.id
        for name, node_labels in (labels or {}).items():
            self.set_labels(name, node_labels)
            self.flush()
        self.step()

    @property
    def manager(self) -> Manager:
        return self.managers[self.leader]

    @property
    def store(self) -> MemoryStore:
        return self.stores[self.leader]

    def failover(self, to: int) -> None:
        """Another manager leads; agents find their sessions unknown and register again."""
        self.leader = to

    # -- driving -------------------------------------------------------------------------

    def flush(self) -> None:
        """Apply what the (asynchronous) Raft stand-in has queued."""
        self.stores[0].proposer.flush()  # type: ignore[attr-defined]

    def step(self) -> None:
        self.clock.advance(self.step_s)
        self.flush()
        for nid in sorted(self.agents):
            self.agents[nid].step()
        for m in self.managers:
            report = m.tick()
            assert not report.errors, report.errors

    def run(self, seconds: float) -> None:
        for _ in range(int(round(seconds / self.step_s))):
            self.step()

    def run_until(self, predicate, timeout_s: float = 60.0) -> float:
        start = self.clock.now_ns()
        for _ in range(int(round(timeout_s / self.step_s))):
            if predicate():
                return (self.clock.now_ns() - start) / 1e9
            self.step()
        raise AssertionError(f"condition not reached within {timeout_s}s of virtual time")

    # -- helpers -------------------------------------------------------------------------

    def node(self, name: str):
        return self.store.view().node(self.names[name])

    def set_labels(self, name: str, labels: dict[str, str]) -> None:
        import dataclasses
        node = self.node(name)
        self.manager.update_node(node.id, node.version.index,
                                 dataclasses.replace(node.spec, labels=dict(labels)))

    def set_availability(self, name: str, availability: str) -> None:
        import dataclasses
        from swarmlab.objects import NodeAvailability
        node = self.node(name)
        self.manager.update_node(node.id, node.version.index, dataclasses.replace(
            node.spec, availability=NodeAvailability(availability)))

    def kill(self, name: str) -> None:
        self.agents[self.names[name]].alive = False

    def revive(self, name: str) -> None:
        agent = self.agents[self.names[name]]
        agent.alive, agent.session = True, ""

    def tasks(self, service_id: str | None = None) -> list[Task]:
        return self.store.view().tasks(service_id)

    def running(self, service_id: str) -> list[Task]:
        return [t for t in self.tasks(service_id)
                if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING]

    def node_name(self, node_id: str) -> str:
        return next(n for n, i in self.names.items() if i == node_id)

    def service(self, ref: str):
        return self.store.view().lookup("service", ref)

    def ready_nodes(self) -> int:
        return sum(n.status.state == NodeState.READY for n in self.store.view().nodes())


def _desc(name: str) -> NodeDescription:
    return NodeDescription(hostname=name, platform=NodePlatform("x86_64", "linux"),
                           resources=ResourceAmounts(nano_cpus=4_000_000_000,
                                                     memory_bytes=8 << 30))


def web(name: str = "web", replicas: int = 3, image: str = "swarmlab/web:1",
        **task_kwargs) -> ServiceSpec:
    return ServiceSpec(name=name, task_template=TaskSpec(
        container_spec=ContainerSpec(image=image), **task_kwargs),
        mode=ServiceMode(replicated=Replicated(replicas)))


def job(name: str, total: int, concurrent: int, image: str = "swarmlab/worker:exit0") -> ServiceSpec:
    return ServiceSpec(name=name, task_template=TaskSpec(
        container_spec=ContainerSpec(image=image)),
        mode=ServiceMode(replicated_job=ReplicatedJob(concurrent, total)))
