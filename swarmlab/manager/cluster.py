"""The cluster object (`docker swarm inspect`), networks, and the service status counts.

`swarm init` makes the cluster spec from the timing profile, so `swarm inspect` shows the
Raft ticks and the dispatcher heartbeat actually in use; `swarm update` changes them (the
leader's dispatcher follows `Dispatcher.HeartbeatPeriod` on its next tick), and the task
history retention limit the reaper keeps. An `ingress` overlay network exists from the
start, as in Docker.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..objects import (
    AlreadyExists, Cluster, ClusterSpec, DispatcherConfig, Driver, FailedPrecondition,
    InvalidArgument, Network, NetworkSpec, RaftConfig, SequenceError, Service, TaskState,
)
from ..profiles import TimingProfile
from ..store import ReadTx, WriteTx

NAME_CONFLICT = "name conflicts with an existing object"


def cluster_spec_for(p: TimingProfile) -> ClusterSpec:
    return ClusterSpec(
        raft=RaftConfig(election_tick=p.election_tick, heartbeat_tick=p.heartbeat_tick),
        dispatcher=DispatcherConfig(heartbeat_period=p.dispatcher_heartbeat_ms * 1_000_000))


def ingress_network(network_id: str) -> Network:
    return Network(id=network_id, spec=NetworkSpec(
        name="ingress", labels={}, driver_configuration=Driver(name="overlay"), ingress=True))


def update_cluster(tx: WriteTx, version: int, spec: ClusterSpec) -> Cluster:
    cluster = tx.cluster()
    if cluster is None:
        raise FailedPrecondition("This node is not a swarm manager.")
    if cluster.version.index != version:
        raise SequenceError()
    if spec.orchestration.task_history_retention_limit < 0:
        raise InvalidArgument("TaskHistoryRetentionLimit cannot be negative")
    if spec.dispatcher.heartbeat_period <= 0:
        raise InvalidArgument("heartbeat period must be positive")
    return tx.update(cluster.replace(spec=spec))  # type: ignore[return-value]


def create_network(tx: WriteTx, network_id: str, spec: NetworkSpec) -> Network:
    if not spec.name:
        raise InvalidArgument("network name must be provided")
    if any(n.spec.name == spec.name for n in tx.networks()):
        raise AlreadyExists(NAME_CONFLICT)
    if spec.ingress and any(n.spec.ingress for n in tx.networks()):
        raise AlreadyExists("ingress network already present")
    return tx.create(Network(id=network_id, spec=spec))  # type: ignore[return-value]


def remove_network(tx: WriteTx, ref: str) -> None:
    network: Network = tx.lookup("network", ref)  # type: ignore[assignment]
    users = sorted(s.spec.name for s in tx.services()
                   if any(a.target in (network.id, network.spec.name)
                          for a in s.spec.task_template.networks + s.spec.networks))
    if users:
        raise FailedPrecondition(
            f"network {network.spec.name} is in use by service {users[0]}")
    if network.spec.ingress and any(s.endpoint and s.endpoint.ports for s in tx.services()):
        raise FailedPrecondition(
            "ingress network cannot be removed because service depends on it")
    tx.remove(network)


@dataclass(frozen=True)
class ServiceStatus:
    """`GET /services?status=true`: Docker's `ServiceStatus` counts."""

    running_tasks: int
    desired_tasks: int
    completed_tasks: int = 0

    def to_json(self) -> dict:
        return {"RunningTasks": self.running_tasks, "DesiredTasks": self.desired_tasks,
                "CompletedTasks": self.completed_tasks}


def service_status(view: ReadTx, service: Service) -> ServiceStatus:
    tasks = view.tasks(service.id)
    running = sum(t.status.state == TaskState.RUNNING for t in tasks)
    completed = sum(t.status.state == TaskState.COMPLETE for t in tasks)
    mode = service.spec.mode
    if mode.replicated is not None:
        desired = mode.replicated.replicas
    elif mode.replicated_job is not None:
        desired = mode.replicated_job.max_concurrent
    else:  # global: the nodes that are meant to run one
        desired = sum(t.desired_state == TaskState.RUNNING for t in tasks
                      if t.status.state <= TaskState.RUNNING)
    return ServiceStatus(running, desired, completed)
