"""The scheduler's filters: each says whether a task may go to a node, and explains a refusal.

The order is Docker's (swarmkit `manager/scheduler/filter.go`); a node refused by several
filters is counted under the first, so the explanation adds up to the number of nodes, as
in `no suitable node (1 node not available for new tasks; 2 nodes not matching constraint
node.labels.dc==east)` (Docker says "scheduling constraints not satisfied on 2 nodes"; we
name the constraint, so a student sees which one to fix).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..objects import Node, NodeAvailability, NodeState, PublishMode, Task
from .constraint import Constraint, parse_all


@dataclass
class NodeInfo:
    """A node and what the scheduler knows is already on it."""

    node: Node
    tasks_by_service: dict[str, int] = field(default_factory=dict)
    reserved_nano_cpus: int = 0
    reserved_memory_bytes: int = 0
    host_ports: set[tuple[str, int]] = field(default_factory=set)
    recent_failures: dict[str, int] = field(default_factory=dict)

    @property
    def total_tasks(self) -> int:
        return sum(self.tasks_by_service.values())

    def add(self, task: Task) -> None:
        self.tasks_by_service[task.service_id] = self.tasks_by_service.get(task.service_id, 0) + 1
        res = task.spec.resources.reservations if task.spec.resources else None
        if res is not None:
            self.reserved_nano_cpus += res.nano_cpus
            self.reserved_memory_bytes += res.memory_bytes
        for proto, port in host_ports(task):
            self.host_ports.add((proto, port))


def host_ports(task: Task) -> list[tuple[str, int]]:
    if task.endpoint is None:
        return []
    return [(p.protocol.value, p.published_port) for p in task.endpoint.spec.ports
            if p.publish_mode == PublishMode.HOST and p.published_port]


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many % n


class ReadyFilter:
    def enabled(self, task: Task) -> bool:
        return True

    def check(self, task: Task, n: NodeInfo) -> bool:
        if n.node.status.state != NodeState.READY:
            return False
        if task.node_id:  # a global task replacing its node's own (update, restart)
            return n.node.spec.availability != NodeAvailability.DRAIN
        return n.node.spec.availability == NodeAvailability.ACTIVE

    def explain(self, nodes: int) -> str:
        return _plural(nodes, "1 node not available for new tasks",
                       "%d nodes not available for new tasks")


class ResourceFilter:
    def enabled(self, task: Task) -> bool:
        res = task.spec.resources.reservations if task.spec.resources else None
        return res is not None and bool(res.nano_cpus or res.memory_bytes)

    def check(self, task: Task, n: NodeInfo) -> bool:
        res = task.spec.resources.reservations  # type: ignore[union-attr]
        have = n.node.description.resources
        return (res.nano_cpus <= have.nano_cpus - n.reserved_nano_cpus  # type: ignore[union-attr]
                and res.memory_bytes <= have.memory_bytes - n.reserved_memory_bytes)  # type: ignore[union-attr]

    def explain(self, nodes: int) -> str:
        return _plural(nodes, "insufficient resources on 1 node",
                       "insufficient resources on %d nodes")


class ConstraintFilter:
    """Names the constraints that refused the nodes (`2 nodes not matching constraint
    node.labels.dc==east`), where Docker only says `scheduling constraints not satisfied
    on 2 nodes` and a student has to find which one by hand."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], list[Constraint]] = {}
        self._failed: dict[str, None] = {}

    def _constraints(self, task: Task) -> list[Constraint]:
        exprs = task.spec.placement.constraints if task.spec.placement else ()
        if exprs not in self._cache:
            self._cache[exprs] = parse_all(exprs)  # validated at service create/update
        return self._cache[exprs]

    def enabled(self, task: Task) -> bool:
        self._failed = {}
        return bool(task.spec.placement and task.spec.placement.constraints)

    def check(self, task: Task, n: NodeInfo) -> bool:
        for c in self._constraints(task):
            if not c.matches(n.node):
                self._failed[str(c)] = None
                return False
        return True

    def explain(self, nodes: int) -> str:
        if not self._failed:
            return _plural(nodes, "scheduling constraints not satisfied on 1 node",
                           "scheduling constraints not satisfied on %d nodes")
        noun = "constraint" if len(self._failed) == 1 else "constraints"
        return f"{_plural(nodes, '1 node', '%d nodes')} not matching {noun} " + \
            ", ".join(self._failed)


class PlatformFilter:
    def enabled(self, task: Task) -> bool:
        return bool(task.spec.placement and task.spec.placement.platforms)

    def check(self, task: Task, n: NodeInfo) -> bool:
        have = n.node.description.platform
        arch = _arch(have.architecture)
        return any((not p.architecture or _arch(p.architecture) == arch)
                   and (not p.os or p.os == have.os)
                   for p in task.spec.placement.platforms)  # type: ignore[union-attr]

    def explain(self, nodes: int) -> str:
        return _plural(nodes, "unsupported platform on 1 node", "unsupported platform on %d nodes")


def _arch(a: str) -> str:
    return "amd64" if a == "x86_64" else a


class HostPortFilter:
    def enabled(self, task: Task) -> bool:
        return bool(host_ports(task))

    def check(self, task: Task, n: NodeInfo) -> bool:
        return not any(p in n.host_ports for p in host_ports(task))

    def explain(self, nodes: int) -> str:
        return _plural(nodes, "host-mode port already in use on 1 node",
                       "host-mode port already in use on %d nodes")


class MaxReplicasFilter:
    def enabled(self, task: Task) -> bool:
        return bool(task.spec.placement and task.spec.placement.max_replicas)

    def check(self, task: Task, n: NodeInfo) -> bool:
        limit = task.spec.placement.max_replicas  # type: ignore[union-attr]
        return n.tasks_by_service.get(task.service_id, 0) < limit

    def explain(self, nodes: int) -> str:
        return "max replicas per node limit exceed"


def default_filters() -> list:
    return [ReadyFilter(), ResourceFilter(), ConstraintFilter(), PlatformFilter(),
            HostPortFilter(), MaxReplicasFilter()]


class Pipeline:
    """Runs the filters for one task over many nodes, counting refusals per filter."""

    def __init__(self, filters: list | None = None) -> None:
        self.filters = filters if filters is not None else default_filters()

    def eligible(self, task: Task, infos: list[NodeInfo]) -> tuple[list[NodeInfo], str]:
        active = [f for f in self.filters if f.enabled(task)]
        refused = [0] * len(active)
        ok: list[NodeInfo] = []
        for info in infos:
            for i, f in enumerate(active):
                if not f.check(task, info):
                    refused[i] += 1
                    break
            else:
                ok.append(info)
        reasons = [f.explain(n) for f, n in zip(active, refused) if n]
        return ok, "; ".join(reasons)
