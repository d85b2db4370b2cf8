"""The manager: the control plane's API operations and its reconcile loop, on one store.

Theory of operation: every manager holds a `MemoryStore` kept identical by Raft. Only the
leader runs `tick()`: it checks heartbeats (the dispatcher), carries role changes to Raft
(the injected membership), runs the orchestrators in order (replicated, global, jobs,
restart, update, promote, reaper), then the scheduler, committing each one's writes as
one store command. Because every decision is a function of the store (and the clock),
a manager that becomes leader resumes exactly where the previous one stopped; the only
in-memory state, the dispatcher's sessions, gets a fresh grace period (`reset`).

The API operations (`create_service`, `update_node`, ...) validate everything before
writing, so a refused request changes nothing. They write through the store too, so on a
follower they fail with whatever the proposer raises (e.g. Raft's NotLeader), which the
HTTP layer answers by forwarding to the leader.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Callable

from ..clock import Clock
from ..objects import (
    Cluster, ClusterSpec, Config, ConfigSpec, FailedPrecondition, JoinTokens,
    ManagerStatus, Network, NetworkSpec, Node, NodeDescription, NodeRole, NodeSpec, NodeState,
    NodeStatus, Reachability, Secret, SecretSpec, Service, ServiceSpec, new_id,
)
from ..dispatcher import Dispatcher
from ..orchestrator import RECONCILERS, Context
from ..profiles import LAB, TimingProfile
from ..scheduler import schedule
from ..store import MemoryStore, WriteTx
from . import cluster as cluster_ops
from . import nodes as node_ops
from . import services as service_ops
from . import tokens
from .membership import RaftMembership


@dataclass
class TickReport:
    """What one tick wrote, by step (for traces and tests)."""

    writes: dict[str, int] = field(default_factory=dict)
    nodes_down: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    #: stopped early: writes of this manager are still in flight through Raft
    waiting: bool = False

    @property
    def total(self) -> int:
        return sum(self.writes.values())


class Manager:
    def __init__(self, store: MemoryStore, clock: Clock, rng: random.Random, *,
                 node_id: str = "", membership: RaftMembership | None = None,
                 profile: TimingProfile = LAB, heartbeat_period_ns: int | None = None,
                 is_leader: Callable[[], bool] = lambda: True) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.node_id = node_id
        self.membership = membership
        self.is_leader = is_leader
        self.profile = profile
        period = heartbeat_period_ns or profile.dispatcher_heartbeat_ms * 1_000_000
        self.dispatcher = Dispatcher(store, clock, rng, heartbeat_period_ns=period)
        self._leading = False

    # -- the reconcile loop --------------------------------------------------------------

    def tick(self) -> TickReport:
        report = TickReport()
        if not self.is_leader():
            self._leading = False
            self.store.forget_in_flight()
            return report
        try:
            self._dispatch(report)
        except Exception as exc:  # noqa: BLE001 - e.g. leadership lost mid-write: next tick
            report.errors["dispatcher"] = f"{type(exc).__name__}: {exc}"
            return report
        steps: list[tuple[str, Callable[[WriteTx], object]]] = [("roles", self._roles)]
        for name, reconcile in RECONCILERS:
            steps.append((name, lambda tx, r=reconcile: r(tx, self._context(tx)).apply(tx)))
        steps.append(("scheduler",
                      lambda tx: [tx.update(t) for t in schedule(tx, self.clock.now_ns())]))
        for name, fn in steps:
            if self.store.in_flight:  # never decide twice on one view (async Raft)
                report.waiting = True
                break
            self._step(report, name, fn)
        return report

    def _dispatch(self, report: TickReport) -> None:
        if not self._leading:
            self.dispatcher.reset()
            self._leading = True
        cluster = self.store.view().cluster()
        if cluster is not None:  # `swarm update --dispatcher-heartbeat`
            self.dispatcher.heartbeat_period_ns = cluster.spec.dispatcher.heartbeat_period
        self.dispatcher.flush_task_status()  # the agents' reports, queued since the last tick
        report.nodes_down = self.dispatcher.check_heartbeats()

    def _context(self, tx: WriteTx) -> Context:
        cluster = tx.cluster()
        limit = cluster.spec.orchestration.task_history_retention_limit if cluster else 5
        return Context(now_ns=self.clock.now_ns(), rng=self.rng, retention=limit)

    def _roles(self, tx: WriteTx) -> None:
        for node in node_ops.reconcile_roles(tx, self.membership, self.node_id):
            tx.update(node)

    def _step(self, report: TickReport, name: str, fn: Callable[[WriteTx], object]) -> None:
        """One reconciler's writes as one command; a refusal (stale view) waits a tick."""
        def run(tx: WriteTx) -> int:
            fn(tx)
            return len(tx.actions)
        try:
            count = self.store.update(run)
        except Exception as exc:  # noqa: BLE001 - reported, retried next tick
            report.errors[name] = f"{type(exc).__name__}: {exc}"
            return
        if count:
            report.writes[name] = count

    # -- the swarm -----------------------------------------------------------------------

    def init(self, hostname: str, addr: str = "", description: NodeDescription | None = None,
             spec: ClusterSpec | None = None, cluster_id: str = "",
             ca_digest: str = "") -> str:
        """`swarm init`: the cluster object, its join tokens, and this node as its manager.
        `ca_digest` (hex SHA-256 of the swarm's root CA) goes into the tokens; without it
        (simulations) a random digest stands in."""
        if ca_digest:
            worker, manager = tokens.for_ca(ca_digest)
        else:
            digest = tokens.new_digest(self.rng)
            worker, manager = tokens.new_token(self.rng, digest), tokens.new_token(self.rng, digest)
        cluster = Cluster(id=cluster_id or new_id(self.rng),
                          spec=spec or cluster_ops.cluster_spec_for(self.profile),
                          join_tokens=JoinTokens(worker=worker, manager=manager))
        node_id = self.node_id or new_id(self.rng)
        node = _new_node(node_id, hostname, addr, description, NodeRole.MANAGER)
        node = node.replace(manager_status=ManagerStatus(
            leader=True, reachability=Reachability.REACHABLE, addr=addr))

        def write(tx: WriteTx) -> None:
            if tx.cluster() is not None:
                raise FailedPrecondition(
                    "This node is already part of a swarm. Use \"docker swarm leave\" to "
                    "leave this swarm and join another one.")
            tx.create(cluster)
            tx.create(node)
            tx.create(cluster_ops.ingress_network(new_id(self.rng)))

        self.store.update(write)
        self.node_id = node_id
        return node_id

    def join(self, token: str, hostname: str, addr: str = "",
             description: NodeDescription | None = None, node_id: str = "") -> Node:
        """A node joins with a token; its role is the token's."""
        cluster = self._cluster()
        role = tokens.role_for(token, cluster.join_tokens.worker, cluster.join_tokens.manager)
        node = _new_node(node_id or new_id(self.rng), hostname, addr, description, role)
        return self.store.update(lambda tx: tx.create(node))  # type: ignore[return-value]

    def join_token(self, role: NodeRole | str) -> str:
        tokens_ = self._cluster().join_tokens
        return tokens_.manager if NodeRole(role) == NodeRole.MANAGER else tokens_.worker

    def rotate_join_token(self, role: NodeRole | str) -> str:
        """`swarm join-token --rotate`: a new secret for one role; the other still works."""
        role = NodeRole(role)

        def write(tx: WriteTx) -> str:
            cluster = tx.cluster()
            assert cluster is not None
            fresh = tokens.new_token(self.rng, tokens.digest_of(cluster.join_tokens.worker))
            jt = cluster.join_tokens
            jt = JoinTokens(worker=jt.worker, manager=fresh) if role == NodeRole.MANAGER \
                else JoinTokens(worker=fresh, manager=jt.manager)
            tx.update(cluster.replace(join_tokens=jt))
            return fresh

        return self.store.update(write)

    def _cluster(self) -> Cluster:
        cluster = self.store.view().cluster()
        if cluster is None:
            raise FailedPrecondition(
                "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
                "join\" to connect this node to swarm and try again.")
        return cluster

    def update_cluster(self, version: int, spec: ClusterSpec) -> Cluster:
        """`swarm update`: a new cluster spec (retention, heartbeat period, ...)."""
        return self.store.update(lambda tx: cluster_ops.update_cluster(tx, version, spec))

    def create_network(self, spec: NetworkSpec) -> Network:
        nid = new_id(self.rng)
        return self.store.update(lambda tx: cluster_ops.create_network(tx, nid, spec))

    def remove_network(self, ref: str) -> None:
        self.store.update(lambda tx: cluster_ops.remove_network(tx, ref))

    # -- nodes ---------------------------------------------------------------------------

    def update_node(self, ref: str, version: int, spec: NodeSpec) -> Node:
        return self.store.update(
            lambda tx: node_ops.update_node(tx, ref, version, spec, self.membership))

    def promote(self, ref: str) -> Node:
        node: Node = self.store.view().lookup("node", ref)  # type: ignore[assignment]
        spec = dataclasses.replace(node.spec, role=NodeRole.MANAGER)
        return self.update_node(node.id, node.version.index, spec)

    def demote(self, ref: str) -> Node:
        node: Node = self.store.view().lookup("node", ref)  # type: ignore[assignment]
        spec = dataclasses.replace(node.spec, role=NodeRole.WORKER)
        return self.update_node(node.id, node.version.index, spec)

    def remove_node(self, ref: str, force: bool = False) -> Node:
        now = self.clock.now_ns()
        return self.store.update(lambda tx: node_ops.remove_node(tx, ref, force, now))

    # -- services, secrets, configs ------------------------------------------------------

    def create_service(self, spec: ServiceSpec) -> Service:
        service_id = new_id(self.rng)
        return self.store.update(lambda tx: service_ops.create_service(tx, service_id, spec))

    def update_service(self, ref: str, version: int, spec: ServiceSpec) -> Service:
        now = self.clock.now_ns()
        return self.store.update(
            lambda tx: service_ops.update_service(tx, ref, version, spec, now))

    def rollback_service(self, ref: str, version: int) -> Service:
        now = self.clock.now_ns()
        return self.store.update(lambda tx: service_ops.rollback_service(tx, ref, version, now))

    def remove_service(self, ref: str) -> Service:
        return self.store.update(lambda tx: service_ops.remove_service(tx, ref))

    def create_secret(self, spec: SecretSpec) -> Secret:
        sid = new_id(self.rng)
        return self.store.update(lambda tx: service_ops.create_secret(tx, sid, spec))

    def create_config(self, spec: ConfigSpec) -> Config:
        cid = new_id(self.rng)
        return self.store.update(lambda tx: service_ops.create_config(tx, cid, spec))

    def remove_secret(self, ref: str) -> None:
        self.store.update(lambda tx: service_ops.remove_secret_or_config(tx, "secret", ref))

    def remove_config(self, ref: str) -> None:
        self.store.update(lambda tx: service_ops.remove_secret_or_config(tx, "config", ref))


def _new_node(node_id: str, hostname: str, addr: str, description: NodeDescription | None,
              role: NodeRole) -> Node:
    desc = description or NodeDescription(hostname=hostname)
    if not desc.hostname:
        desc = NodeDescription(hostname=hostname, platform=desc.platform,
                               resources=desc.resources, engine=desc.engine)
    return Node(id=node_id, spec=NodeSpec(role=role), description=desc,
                status=NodeStatus(state=NodeState.UNKNOWN, addr=addr))
