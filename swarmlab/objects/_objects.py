"""Stored objects: an ID, a `Version.Index`, times, the user's `Spec` and the system's status.

Every object is a frozen dataclass; a write is a new object (`dataclasses.replace`), so a
read transaction can hand out references without copying. Times are nanoseconds since
the epoch, from the injected clock (virtual time in the simulator).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ._json import from_json, jfield, to_json
from ._specs import (
    ConfigSpec, EndpointSpec, NetworkSpec, NodeSpec, PortConfig, ResourceAmounts,
    SecretSpec, ServiceSpec, TaskSpec,
)
from ._states import NodeState, Reachability, TaskState, UpdateState

O = TypeVar("O", bound="StoreObject")


@dataclass(frozen=True)
class Version:
    index: int = 0


@dataclass(frozen=True)
class StoreObject:
    """The fields every stored object shares; `kind` names its table."""

    kind: ClassVar[str] = ""

    id: str = jfield("ID", default="")
    version: Version = jfield(default_factory=Version)
    created_at: int = jfield(default=0, time=True)
    updated_at: int = jfield(default=0, time=True)

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_json(cls: type[O], data: dict[str, Any]) -> O:
        return from_json(cls, data)

    def replace(self: O, **changes: Any) -> O:
        return dataclasses.replace(self, **changes)


# -- nodes -------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineDescription:
    engine_version: str = ""
    labels: dict[str, str] = jfield(default_factory=dict, omitempty=True)


@dataclass(frozen=True)
class NodePlatform:
    architecture: str = "x86_64"
    os: str = jfield("OS", default="linux")


@dataclass(frozen=True)
class TLSInfo:
    """The root a node trusts and the issuer of its certificate (DER, base64 in JSON)."""
    trust_root: str = ""
    cert_issuer_subject: str = ""
    cert_issuer_public_key: str = ""


@dataclass(frozen=True)
class NodeDescription:
    hostname: str = ""
    platform: NodePlatform = jfield(default_factory=NodePlatform)
    resources: ResourceAmounts = jfield(default_factory=ResourceAmounts)
    engine: EngineDescription = jfield(default_factory=EngineDescription)
    tls_info: TLSInfo | None = jfield("TLSInfo", default=None)


@dataclass(frozen=True)
class NodeStatus:
    state: NodeState = NodeState.UNKNOWN
    message: str = jfield(default="", omitempty=True)
    addr: str = jfield(default="", omitempty=True)


@dataclass(frozen=True)
class ManagerStatus:
    leader: bool = jfield(default=False, omitempty=True)
    reachability: Reachability = Reachability.UNKNOWN
    addr: str = ""


@dataclass(frozen=True)
class Node(StoreObject):
    kind: ClassVar[str] = "node"

    spec: NodeSpec = jfield(default_factory=NodeSpec)
    description: NodeDescription = jfield(default_factory=NodeDescription)
    status: NodeStatus = jfield(default_factory=NodeStatus)
    manager_status: ManagerStatus | None = None

    @property
    def hostname(self) -> str:
        return self.description.hostname


# -- services ----------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateStatus:
    state: UpdateState = UpdateState.UPDATING
    started_at: int | None = jfield(default=None, time=True)
    completed_at: int | None = jfield(default=None, time=True)
    message: str = ""


@dataclass(frozen=True)
class EndpointVirtualIP:
    network_id: str = jfield("NetworkID", default="")
    addr: str = ""


@dataclass(frozen=True)
class Endpoint:
    spec: EndpointSpec = jfield(default_factory=EndpointSpec)
    ports: tuple[PortConfig, ...] = jfield(default=(), omitempty=True)
    virtual_ips: tuple[EndpointVirtualIP, ...] = jfield("VirtualIPs", default=(), omitempty=True)


@dataclass(frozen=True)
class JobIteration:
    index: int = 0


@dataclass(frozen=True)
class JobStatus:
    job_iteration: JobIteration = jfield(default_factory=JobIteration)
    last_execution: int | None = jfield(default=None, time=True)


@dataclass(frozen=True)
class Service(StoreObject):
    kind: ClassVar[str] = "service"

    spec: ServiceSpec = jfield(default_factory=ServiceSpec)
    previous_spec: ServiceSpec | None = None
    endpoint: Endpoint | None = None
    update_status: UpdateStatus | None = None
    job_status: JobStatus | None = None


# -- tasks -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContainerStatus:
    container_id: str = jfield("ContainerID", default="", omitempty=True)
    pid: int = jfield("PID", default=0, omitempty=True)
    exit_code: int = jfield(default=0, omitempty=True)


@dataclass(frozen=True)
class TaskStatus:
    timestamp: int = jfield(default=0, time=True)
    state: TaskState = TaskState.NEW
    message: str = ""
    err: str = jfield(default="", omitempty=True)
    container_status: ContainerStatus | None = None


@dataclass(frozen=True)
class Task(StoreObject):
    kind: ClassVar[str] = "task"

    name: str = jfield(default="", omitempty=True)
    labels: dict[str, str] = jfield(default_factory=dict)
    spec: TaskSpec = jfield(default_factory=TaskSpec)
    service_id: str = jfield("ServiceID", default="")
    slot: int = jfield(default=0, omitempty=True)
    node_id: str = jfield("NodeID", default="", omitempty=True)
    status: TaskStatus = jfield(default_factory=TaskStatus)
    desired_state: TaskState = TaskState.RUNNING
    endpoint: Endpoint | None = None
    job_iteration: JobIteration | None = None

    @property
    def state(self) -> TaskState:
        return self.status.state


# -- secrets, configs, networks, the cluster ---------------------------------------------

@dataclass(frozen=True)
class Secret(StoreObject):
    kind: ClassVar[str] = "secret"

    spec: SecretSpec = jfield(default_factory=SecretSpec)


@dataclass(frozen=True)
class Config(StoreObject):
    kind: ClassVar[str] = "config"

    spec: ConfigSpec = jfield(default_factory=ConfigSpec)


@dataclass(frozen=True)
class Network(StoreObject):
    kind: ClassVar[str] = "network"

    spec: NetworkSpec = jfield(default_factory=NetworkSpec)


@dataclass(frozen=True)
class OrchestrationConfig:
    task_history_retention_limit: int = 5


@dataclass(frozen=True)
class RaftConfig:
    snapshot_interval: int = 10000
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 500
    election_tick: int = 10
    heartbeat_tick: int = 1


@dataclass(frozen=True)
class DispatcherConfig:
    heartbeat_period: int = jfield(default=5_000_000_000)


@dataclass(frozen=True)
class CAConfig:
    node_cert_expiry: int = jfield(default=90 * 24 * 3600 * 1_000_000_000)
    force_rotate: int = jfield(default=0, omitempty=True)  # `swarm ca --rotate` bumps it


@dataclass(frozen=True)
class ClusterSpec:
    name: str = "default"
    labels: dict[str, str] = jfield(default_factory=dict)
    orchestration: OrchestrationConfig = jfield(default_factory=OrchestrationConfig)
    raft: RaftConfig = jfield(default_factory=RaftConfig)
    dispatcher: DispatcherConfig = jfield(default_factory=DispatcherConfig)
    ca_config: CAConfig = jfield("CAConfig", default_factory=CAConfig)


@dataclass(frozen=True)
class JoinTokens:
    worker: str = ""
    manager: str = ""


@dataclass(frozen=True)
class Cluster(StoreObject):
    """Docker Engine shows this object as `/swarm` (`docker swarm inspect`)."""

    kind: ClassVar[str] = "cluster"

    spec: ClusterSpec = jfield(default_factory=ClusterSpec)
    join_tokens: JoinTokens = jfield(default_factory=JoinTokens)
    # swarmkit's cluster.RootCA: the CA with its key and any rotation under way
    # (`RootCA.to_json()`); replicated by Raft, never shown by the API (agent/ca_rotation.py)
    root_ca: dict[str, Any] = jfield("RootCA", default_factory=dict, omitempty=True)
    # swarmkit's cluster.BlacklistedCertificates: node ID -> {"Expiry": ns} of every node
    # removed from the swarm, whose certificates are refused from then on (node/peers.py)
    blacklisted_certificates: dict[str, Any] = jfield(
        "BlacklistedCertificates", default_factory=dict, omitempty=True)


KINDS: dict[str, type[StoreObject]] = {
    cls.kind: cls for cls in (Node, Service, Task, Secret, Config, Network, Cluster)
}
