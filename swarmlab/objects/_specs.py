"""What the user asks for: specs, named and shaped as in the Docker Engine API.

Specs are frozen: the system never changes the user's spec, it only records status
beside it. Durations are nanoseconds (`delay` is JSON `Delay`), as Docker sends them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._json import jfield
from ._states import (
    FailureAction, NodeAvailability, NodeRole, PortProtocol, PublishMode, ResolutionMode,
    RestartCondition, UpdateOrder,
)

SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class Platform:
    architecture: str = ""
    os: str = jfield("OS", default="")


@dataclass(frozen=True)
class SpreadOver:
    spread_descriptor: str = ""


@dataclass(frozen=True)
class PlacementPreference:
    spread: SpreadOver | None = None


@dataclass(frozen=True)
class Placement:
    constraints: tuple[str, ...] = jfield(default=(), omitempty=True)
    preferences: tuple[PlacementPreference, ...] = jfield(default=(), omitempty=True)
    max_replicas: int = jfield(default=0, omitempty=True)
    platforms: tuple[Platform, ...] = jfield(default=(), omitempty=True)


@dataclass(frozen=True)
class ResourceAmounts:
    nano_cpus: int = jfield("NanoCPUs", default=0, omitempty=True)
    memory_bytes: int = jfield(default=0, omitempty=True)
    pids: int = jfield(default=0, omitempty=True)


@dataclass(frozen=True)
class Resources:
    limits: ResourceAmounts | None = None
    reservations: ResourceAmounts | None = None


@dataclass(frozen=True)
class RestartPolicy:
    """Docker's defaults: restart on any exit, 5 s apart, no limit, no window."""

    condition: RestartCondition = RestartCondition.ANY
    delay: int = 5 * SECOND_NS
    max_attempts: int = 0
    window: int = 0


@dataclass(frozen=True)
class UpdateConfig:
    """Docker's defaults for `--update-*` and `--rollback-*` flags."""

    parallelism: int = 1
    delay: int = 0
    # dockerd reads an empty FailureAction or Order (`docker stack deploy` sends "") as
    # the default
    failure_action: FailureAction = jfield(default=FailureAction.PAUSE, blank_is_default=True,
                                           unrecognized="unrecognized update failure action")
    monitor: int = 5 * SECOND_NS
    max_failure_ratio: float = 0.0
    order: UpdateOrder = jfield(default=UpdateOrder.STOP_FIRST, blank_is_default=True,
                                unrecognized="unrecognized update order")


@dataclass(frozen=True)
class FileTarget:
    name: str = ""
    uid: str = jfield("UID", default="0")
    gid: str = jfield("GID", default="0")
    mode: int = 0o444


@dataclass(frozen=True)
class SecretReference:
    file: FileTarget | None = None
    secret_id: str = jfield("SecretID", default="")
    secret_name: str = ""


@dataclass(frozen=True)
class ConfigReference:
    file: FileTarget | None = None
    config_id: str = jfield("ConfigID", default="")
    config_name: str = ""


@dataclass(frozen=True)
class HealthConfig:
    test: tuple[str, ...] = jfield(default=(), omitempty=True)
    interval: int = jfield(default=0, omitempty=True)
    timeout: int = jfield(default=0, omitempty=True)
    retries: int = jfield(default=0, omitempty=True)
    start_period: int = jfield(default=0, omitempty=True)


@dataclass(frozen=True)
class ContainerSpec:
    image: str = ""
    labels: dict[str, str] = jfield(default_factory=dict, omitempty=True)
    command: tuple[str, ...] = jfield(default=(), omitempty=True)
    args: tuple[str, ...] = jfield(default=(), omitempty=True)
    hostname: str = jfield(default="", omitempty=True)
    env: tuple[str, ...] = jfield(default=(), omitempty=True)
    dir: str = jfield(default="", omitempty=True)
    user: str = jfield(default="", omitempty=True)
    stop_signal: str = jfield(default="", omitempty=True)
    stop_grace_period: int | None = None
    healthcheck: HealthConfig | None = None
    secrets: tuple[SecretReference, ...] = jfield(default=(), omitempty=True)
    configs: tuple[ConfigReference, ...] = jfield(default=(), omitempty=True)


@dataclass(frozen=True)
class NetworkAttachmentConfig:
    target: str = ""
    aliases: tuple[str, ...] = jfield(default=(), omitempty=True)


@dataclass(frozen=True)
class TaskSpec:
    container_spec: ContainerSpec | None = None
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None
    placement: Placement | None = None
    networks: tuple[NetworkAttachmentConfig, ...] = jfield(default=(), omitempty=True)
    force_update: int = 0
    runtime: str = jfield(default="", omitempty=True)


@dataclass(frozen=True)
class Replicated:
    replicas: int = 1


@dataclass(frozen=True)
class Global:
    pass


@dataclass(frozen=True)
class ReplicatedJob:
    max_concurrent: int = 1
    total_completions: int = 1


@dataclass(frozen=True)
class GlobalJob:
    pass


@dataclass(frozen=True)
class ServiceMode:
    """Exactly one of the four is set; `Replicated` with 1 replica when none is."""

    replicated: Replicated | None = None
    global_: Global | None = jfield("Global", default=None)
    replicated_job: ReplicatedJob | None = None
    global_job: GlobalJob | None = None

    @property
    def is_job(self) -> bool:
        return self.replicated_job is not None or self.global_job is not None

    @property
    def is_global(self) -> bool:
        return self.global_ is not None or self.global_job is not None


@dataclass(frozen=True)
class PortConfig:
    name: str = jfield(default="", omitempty=True)
    protocol: PortProtocol = PortProtocol.TCP
    target_port: int = 0
    published_port: int = jfield(default=0, omitempty=True)
    publish_mode: PublishMode = PublishMode.INGRESS


@dataclass(frozen=True)
class EndpointSpec:
    mode: ResolutionMode = ResolutionMode.VIP
    ports: tuple[PortConfig, ...] = jfield(default=(), omitempty=True)


@dataclass(frozen=True)
class ServiceSpec:
    name: str = ""
    labels: dict[str, str] = jfield(default_factory=dict)
    task_template: TaskSpec = jfield(default_factory=TaskSpec)
    mode: ServiceMode = jfield(default_factory=lambda: ServiceMode(replicated=Replicated()))
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    networks: tuple[NetworkAttachmentConfig, ...] = jfield(default=(), omitempty=True)
    endpoint_spec: EndpointSpec | None = None

    @property
    def restart_policy(self) -> RestartPolicy:
        return self.task_template.restart_policy or default_restart_policy(self.mode)

    @property
    def update(self) -> UpdateConfig:
        return self.update_config or UpdateConfig()

    @property
    def rollback(self) -> UpdateConfig:
        return self.rollback_config or UpdateConfig()


def default_restart_policy(mode: ServiceMode) -> RestartPolicy:
    """Jobs restart only on failure (a completed job task is done), services on any exit."""
    if mode.is_job:
        return RestartPolicy(condition=RestartCondition.ON_FAILURE)
    return RestartPolicy()


@dataclass(frozen=True)
class NodeSpec:
    name: str = jfield(default="", omitempty=True)
    labels: dict[str, str] = jfield(default_factory=dict)
    role: NodeRole = NodeRole.WORKER
    availability: NodeAvailability = NodeAvailability.ACTIVE


@dataclass(frozen=True)
class Driver:
    name: str = ""
    options: dict[str, str] = jfield(default_factory=dict, omitempty=True)


@dataclass(frozen=True)
class SecretSpec:
    """`Data` is base64 text in JSON, as the Engine API has it."""

    name: str = ""
    labels: dict[str, str] = jfield(default_factory=dict)
    data: str = jfield(default="", omitempty=True)
    driver: Driver | None = None
    templating: Driver | None = None


@dataclass(frozen=True)
class ConfigSpec:
    name: str = ""
    labels: dict[str, str] = jfield(default_factory=dict)
    data: str = jfield(default="", omitempty=True)
    templating: Driver | None = None


@dataclass(frozen=True)
class NetworkSpec:
    name: str = ""
    labels: dict[str, str] = jfield(default_factory=dict)
    driver_configuration: Driver | None = None
    ingress: bool = False
    attachable: bool = False
    scope: str = "swarm"
