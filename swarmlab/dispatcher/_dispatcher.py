"""The dispatcher: the leader's side of every agent's session.

Theory of operation (swarmkit `manager/dispatcher`):
- `register` opens a session for a node (the node must have joined) and marks it ready;
  the agent then calls `heartbeat` every period the dispatcher gives it. A node whose
  heartbeats stop for `grace_multiplier` periods (3, as Docker) is marked `down` with
  Docker's "heartbeat failure" by `check_heartbeats`, and the orchestrators replace its
  tasks.
- `assignments` hands a node only what it needs: its tasks (from assigned on, including
  those it must stop), and the secrets and configs those tasks reference.
- `update_task_status` applies an agent's reports, only forward (a report that would move a
  task's state back, or about a task of another node, is ignored and returned as refused).
  With `batch_status` (the agent's managers) reports are queued instead, and
  `flush_task_status` (the manager's tick) commits every node's queued reports as one
  Raft entry, as swarmkit's dispatcher batches them: a heartbeat never waits for Raft,
  and a lost queue costs nothing (agents send all their statuses on every heartbeat).
- Sessions live only in the leader's memory; a new leader calls `reset()`, which gives
  every ready node `unknown` and a fresh grace period to reconnect instead of marking it
  down at once (a node that registers again is ready; one that does not goes down).
No clock, timer or thread here: time comes from the injected clock when the manager ticks.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from ..clock import Clock
from ..objects import (
    Config, InvalidArgument, NodeDescription, NodeState, NodeStatus, NotFound, Secret,
    Task, TaskState, TaskStatus, new_id,
)
from ..profiles import TimingProfile
from ..store import MemoryStore, WriteTx

GRACE_MULTIPLIER = 3
HEARTBEAT_FAILURE = "heartbeat failure"
LEADERSHIP_CHANGE = "Node moved to 'unknown' state due to leadership change in cluster"


class SessionInvalid(InvalidArgument):
    """The agent's session is unknown here (e.g. a new leader): it must register again."""


@dataclass
class Session:
    node_id: str
    session_id: str
    deadline_ns: int


@dataclass
class Assignment:
    tasks: list[Task] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    configs: list[Config] = field(default_factory=list)


class Dispatcher:
    def __init__(self, store: MemoryStore, clock: Clock, rng: random.Random,
                 heartbeat_period_ns: int = 5_000_000_000,
                 grace_multiplier: int = GRACE_MULTIPLIER) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.heartbeat_period_ns = heartbeat_period_ns
        self.grace_multiplier = grace_multiplier
        self.sessions: dict[str, Session] = {}
        self.batch_status = False
        self._queued: dict[str, tuple[str, TaskStatus]] = {}  # task id -> (node, status)

    @classmethod
    def for_profile(cls, store: MemoryStore, clock: Clock, rng: random.Random,
                    profile: TimingProfile) -> "Dispatcher":
        """Docker's 5 s heartbeat with the `swarm` profile, faster with `lab`."""
        period_ns = profile.dispatcher_heartbeat_ms * 1_000_000
        return cls(store, clock, rng, heartbeat_period_ns=period_ns)

    @property
    def grace_ns(self) -> int:
        return self.heartbeat_period_ns * self.grace_multiplier

    # -- sessions ------------------------------------------------------------------------

    def register(self, node_id: str, description: NodeDescription | None = None,
                 addr: str = "") -> str:
        """Open a session for a joined node and mark it ready; returns the session ID."""
        now = self.clock.now_ns()

        def mark_ready(tx: WriteTx) -> None:
            node = tx.node(node_id)
            if node is None:
                raise NotFound(f"node {node_id} not found")
            status = NodeStatus(state=NodeState.READY, addr=addr or node.status.addr)
            changed = node.replace(status=status,
                                   description=description or node.description)
            if changed != node:
                tx.update(changed)

        self.store.update(mark_ready)
        session = Session(node_id, new_id(self.rng), now + self.grace_ns)
        self.sessions[node_id] = session
        return session.session_id

    def heartbeat(self, node_id: str, session_id: str) -> int:
        """Extend the session; returns the period (ns) until the next heartbeat is due."""
        session = self._session(node_id, session_id)
        session.deadline_ns = self.clock.now_ns() + self.grace_ns
        return self.heartbeat_period_ns

    def _session(self, node_id: str, session_id: str) -> Session:
        session = self.sessions.get(node_id)
        if session is None or not session_id or session.session_id != session_id:
            raise SessionInvalid("session invalid")
        return session

    def reset(self) -> None:
        """A new leader: forget old sessions; every ready node becomes `unknown` (Docker's
        message) and gets a grace period to register again before it is marked down."""
        now = self.clock.now_ns()
        ready = [n for n in self.store.view().nodes() if n.status.state == NodeState.READY]
        self._queued = {}
        self.sessions = {n.id: Session(n.id, "", now + self.grace_ns) for n in ready}

        def mark_unknown(tx: WriteTx) -> None:
            for n in ready:
                node = tx.node(n.id)
                if node is not None and node.status.state == NodeState.READY:
                    tx.update(node.replace(status=NodeStatus(
                        state=NodeState.UNKNOWN, message=LEADERSHIP_CHANGE,
                        addr=node.status.addr)))

        if ready:
            self.store.update(mark_unknown)

    def check_heartbeats(self) -> list[str]:
        """Mark down every node whose session expired; returns their IDs."""
        now = self.clock.now_ns()
        expired = sorted(nid for nid, s in self.sessions.items() if now > s.deadline_ns)
        if not expired:
            return []

        def mark_down(tx: WriteTx) -> None:
            for nid in expired:
                node = tx.node(nid)
                if node is not None and node.status.state != NodeState.DOWN:
                    tx.update(node.replace(status=NodeStatus(
                        state=NodeState.DOWN, message=HEARTBEAT_FAILURE, addr=node.status.addr)))

        self.store.update(mark_down)
        for nid in expired:
            del self.sessions[nid]
        return expired

    # -- work ----------------------------------------------------------------------------

    def assignments(self, node_id: str, session_id: str) -> Assignment:
        self._session(node_id, session_id)
        view = self.store.view()
        tasks = [t for t in view.tasks(node_id=node_id)
                 if t.status.state >= TaskState.ASSIGNED and t.status.state < TaskState.REMOVE]
        secret_ids = {r.secret_id for t in tasks if t.spec.container_spec
                      for r in t.spec.container_spec.secrets}
        config_ids = {r.config_id for t in tasks if t.spec.container_spec
                      for r in t.spec.container_spec.configs}
        return Assignment(tasks=tasks,
                          secrets=[s for s in view.secrets() if s.id in secret_ids],
                          configs=[c for c in view.configs() if c.id in config_ids])

    def update_task_status(self, node_id: str, session_id: str,
                           updates: list[tuple[str, TaskStatus]]) -> list[str]:
        """Apply an agent's task reports; returns the IDs of refused reports (none
        while batching: they are known when the batch is committed)."""
        self._session(node_id, session_id)
        updates = [(tid, self._stamped(tid, st)) for tid, st in updates]
        if self.batch_status:
            for task_id, status in updates:
                # an agent repeats every status in each heartbeat: queue what is news
                stored = self.store.get("task", task_id)
                if task_id in self._queued or stored is None or stored.status != status:
                    self._queued[task_id] = (node_id, status)
            return []
        return self._apply_statuses([(node_id, tid, st) for tid, st in updates])

    def _stamped(self, task_id: str, status: TaskStatus) -> TaskStatus:
        """A report without a time gets the manager's (Docker's zero time would read as
        "56 years ago"); one that repeats the stored status keeps the stored time."""
        if status.timestamp:
            return status
        stored = self.store.get("task", task_id)
        if stored is not None and replace(stored.status, timestamp=0) == status:
            return stored.status
        return replace(status, timestamp=self.clock.now_ns())

    @property
    def reports_queued(self) -> bool:
        """Whether reports wait for `flush_task_status` (the next tick)."""
        return bool(self._queued)

    def flush_task_status(self) -> list[str]:
        """Commit the queued reports of every node as one write; returns refused IDs."""
        if not self._queued:
            return []
        queued, self._queued = self._queued, {}
        return self._apply_statuses([(node, tid, st) for tid, (node, st) in queued.items()])

    def _apply_statuses(self, updates: list[tuple[str, str, TaskStatus]]) -> list[str]:
        refused: list[str] = []

        def apply(tx: WriteTx) -> None:
            for node_id, task_id, status in updates:
                task = tx.task(task_id)
                if task is None or task.node_id != node_id or status.state < task.status.state:
                    refused.append(task_id)
                    continue
                if status != task.status:
                    tx.update(task.replace(status=status))

        self.store.update(apply)
        return refused
