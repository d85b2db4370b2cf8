"""The swarm object model: Docker's specs and stored objects as typed dataclasses.

Each converts to and from Docker Engine API JSON with `to_json(obj)` /
`from_json(cls, data)` (stored objects also have `.to_json()` / `Cls.from_json()`).
"""
from ._ids import new_id
from ._errors import (
    AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SequenceError, SwarmError,
    Unimplemented,
)
from ._json import format_time, from_json, parse_time, to_json
from ._objects import (
    KINDS, Cluster, ClusterSpec, Config, ContainerStatus, DispatcherConfig, Endpoint,
    EndpointVirtualIP, EngineDescription, JobIteration, JobStatus, JoinTokens,
    ManagerStatus, Network, Node, NodeDescription, NodePlatform, NodeStatus,
    OrchestrationConfig, RaftConfig, Secret, Service, StoreObject, Task, TaskStatus,
    UpdateStatus, Version,
)
from ._specs import (
    SECOND_NS, ConfigReference, ConfigSpec, ContainerSpec, Driver, EndpointSpec, FileTarget,
    Global, GlobalJob, HealthConfig, NetworkAttachmentConfig, NetworkSpec, NodeSpec,
    Placement, PlacementPreference, Platform, PortConfig, Replicated, ReplicatedJob,
    ResourceAmounts, Resources, RestartPolicy, SecretReference, SecretSpec, ServiceMode,
    ServiceSpec, SpreadOver, TaskSpec, UpdateConfig, default_restart_policy,
)
from ._states import (
    FailureAction, NodeAvailability, NodeRole, NodeState, PortProtocol, PublishMode,
    Reachability, ResolutionMode, RestartCondition, TaskState, TaskStateBackward,
    UpdateOrder, UpdateState, check_forward,
)

__all__ = [name for name in dir() if not name.startswith("_")]
