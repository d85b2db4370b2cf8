"""What a node's mesh should look like, as a plain function of the cluster's state.

Theory of operation (STYLE.md's "reconcilers as plain functions of a snapshot"):
- `plan(services, tasks)` is pure: from the services' endpoint specs and the tasks'
  endpoints it computes the ingress table (published port -> task endpoints) and
  the discovery table (service -> mode, ports, addresses, aliases). Only tasks
  that are `ready` (running, and healthy if they have a health check) count.
- `apply(plan, mesh, discovery)` makes one node's `RoutingMesh` and
  `ServiceDiscovery` match it: new ports published, gone ones unpublished,
  backends replaced. The agent calls both whenever the store changes; every node
  computes the same ingress table, so a port answers on all of them.
- `mode=host` ports are left to the runtime of the node running the task.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..net.addresses import task_port

from ..net.balancer import Endpoint
from .discovery import ServiceDiscovery
from .ingress import RoutingMesh

log = logging.getLogger("swarmlab.mesh")


@dataclass(frozen=True, slots=True)
class PublishedPort:
    target_port: int
    published_port: int = 0
    publish_mode: str = "ingress"
    protocol: str = "tcp"  # the mesh forwards TCP only; udp/sctp ports are skipped


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    """A service's `EndpointSpec`, and the ports its image serves (for its VIP)."""

    name: str
    endpoint_mode: str = "vip"
    ports: tuple[PublishedPort, ...] = ()
    target_ports: tuple[int, ...] = ()  # served on the VIP; published targets are added
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskEndpoint:
    service: str
    address: str  # the task's own address (controller.address)
    ready: bool  # running, and healthy if it has a check
    low_ports_remapped: bool = False  # its node runs unprivileged (docs/runtime.md)

    def endpoint(self, target_port: int) -> Endpoint:
        return self.address, task_port(target_port, not self.low_ports_remapped)


@dataclass(frozen=True, slots=True)
class DiscoveryEntry:
    mode: str
    ports: dict[int, list[Endpoint]]
    addresses: list[str]
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeshPlan:
    ingress: dict[int, list[Endpoint]] = field(default_factory=dict)
    discovery: dict[str, DiscoveryEntry] = field(default_factory=dict)


def plan(services: list[ServiceEndpoint], tasks: list[TaskEndpoint]) -> MeshPlan:
    ready: dict[str, list[TaskEndpoint]] = {}
    for task in sorted(tasks, key=lambda t: t.address):
        if task.ready:
            ready.setdefault(task.service, []).append(task)
    ingress: dict[int, list[Endpoint]] = {}
    discovery: dict[str, DiscoveryEntry] = {}
    for svc in services:
        mine = ready.get(svc.name, [])
        for port in svc.ports:
            if port.publish_mode == "ingress" and port.published_port and port.protocol == "tcp":
                ingress[port.published_port] = [t.endpoint(port.target_port) for t in mine]
        targets = sorted({*svc.target_ports, *(p.target_port for p in svc.ports if p.protocol == "tcp")})
        discovery[svc.name] = DiscoveryEntry(
            svc.endpoint_mode, {t: [task.endpoint(t) for task in mine] for t in targets},
            [t.address for t in mine], svc.aliases)
    return MeshPlan(ingress, discovery)


async def apply(target: MeshPlan, mesh: RoutingMesh | None,
                discovery: ServiceDiscovery | None) -> list[str]:
    """Make this node's mesh and discovery match `target`; returns the problems
    (a port that cannot be published here), each already logged."""
    problems: list[str] = []
    if mesh is not None:
        for port in set(mesh.published_ports) - set(target.ingress):
            await mesh.unpublish(port)
        for port, endpoints in target.ingress.items():
            mesh.set_backends(port, endpoints)
            try:
                await mesh.publish(port)
            except OSError as exc:
                problems.append(f"cannot publish {mesh.node_address}:{port}: {exc.strerror}")
                log.error("mesh %s: %s", mesh.node_name, problems[-1])
    if discovery is not None:
        for name in set(discovery.services) - set(target.discovery):
            await discovery.remove_service(name)
        for name, entry in target.discovery.items():
            await discovery.set_service(name, mode=entry.mode, ports=entry.ports,
                                        addresses=entry.addresses, aliases=entry.aliases)
    return problems
