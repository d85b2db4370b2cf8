"""`ls`, `services`, `ps` and `rm`: stacks as Docker finds them, by the namespace label.

A stack is not an object of the swarm: it is every service, secret, config and
network whose `com.docker.stack.namespace` label names it, which is all the docker
CLI looks at too. The rows returned are table-ready (the CLI prints their fields
under Docker's headers) and keep the Engine API object in `raw` for anything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ._convert import NAMESPACE
from ._engine import Engine, network_name, object_id
from ._errors import StackError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackRow:
    """`docker stack ls`: NAME, SERVICES, ORCHESTRATOR."""

    name: str
    services: int
    orchestrator: str = "Swarm"


@dataclass(frozen=True)
class ServiceRow:
    """`docker stack services`: ID, NAME, MODE, REPLICAS, IMAGE, PORTS."""

    id: str
    name: str
    mode: str
    replicas: str
    image: str
    ports: str
    raw: dict = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class TaskRow:
    """`docker stack ps`: ID, NAME, IMAGE, NODE, DESIRED STATE, CURRENT STATE, ERROR, PORTS.
    `current_state` is the state word (``Running``); `since` is Docker's timestamp of it."""

    id: str
    name: str
    image: str
    node: str
    desired_state: str
    current_state: str
    since: str
    error: str
    ports: str
    raw: dict = field(repr=False, compare=False, default_factory=dict)


@dataclass
class RemoveResult:
    stack: str
    services: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    configs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.services or self.secrets or self.configs or self.networks)


def _in_stack(obj: dict, name: str) -> bool:
    return (obj.get("Spec", {}).get("Labels") or obj.get("Labels") or {}).get(NAMESPACE) == name


def ls(client: Any) -> list[StackRow]:
    counts: dict[str, int] = {}
    for svc in Engine(client).call("failed to list services", Engine(client).services):
        stack = (svc["Spec"].get("Labels") or {}).get(NAMESPACE)
        if stack:
            counts[stack] = counts.get(stack, 0) + 1
    return [StackRow(n, c) for n, c in sorted(counts.items())]


def _stack_services(engine: Engine, name: str) -> list[dict]:
    found = engine.call("failed to list services", engine.services)
    return sorted((s for s in found if _in_stack(s, name)), key=lambda s: s["Spec"]["Name"])


def services(client: Any, name: str) -> list[ServiceRow]:
    return [_service_row(s) for s in _stack_services(Engine(client), name)]


def _service_row(svc: dict) -> ServiceRow:
    mode = svc["Spec"].get("Mode") or {}
    status = svc.get("ServiceStatus") or {}
    running, desired = status.get("RunningTasks", 0), status.get("DesiredTasks", 0)
    if "Global" in mode:
        kind = "global"
    elif "ReplicatedJob" in mode:
        kind = "replicated job"
    elif "GlobalJob" in mode:
        kind = "global job"
    else:
        kind = "replicated"
    image = svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@", 1)[0]
    return ServiceRow(svc["ID"][:12], svc["Spec"]["Name"], kind, f"{running}/{desired}", image,
                      _ports((svc.get("Endpoint") or {}).get("Ports") or []), svc)


def _ports(ports: list[dict]) -> str:
    return ", ".join(f"*:{p['PublishedPort']}->{p['TargetPort']}/{p.get('Protocol', 'tcp')}"
                     for p in ports if p.get("PublishedPort"))


def ps(client: Any, name: str) -> list[TaskRow]:
    """The stack's tasks, sorted by service, slot, then newest first (as `docker stack ps`).
    Raises StackError("nothing found in stack: NAME") for an unknown stack, as Docker does."""
    engine = Engine(client)
    svcs = _stack_services(engine, name)
    if not svcs:
        raise StackError(f"nothing found in stack: {name}")
    names = {s["ID"]: s["Spec"]["Name"] for s in svcs}
    nodes = {n["ID"]: n["Description"]["Hostname"]
             for n in engine.call("failed to list nodes", engine.nodes)}
    tasks = engine.call("failed to list tasks", engine.tasks, list(names))
    tasks.sort(key=lambda t: (names.get(t["ServiceID"], ""), t.get("Slot") or 0,
                              t.get("NodeID", ""), _neg_time(t)))
    return [_task_row(t, names, nodes) for t in tasks]


def _neg_time(task: dict) -> str:
    # newest first: invert the sort on the RFC 3339 timestamp by sorting on its complement
    return "".join(chr(0x10FFFF - ord(c)) for c in task["Status"].get("Timestamp", ""))


def _task_row(t: dict, names: dict[str, str], nodes: dict[str, str]) -> TaskRow:
    service = names.get(t["ServiceID"], t["ServiceID"])
    slot = t.get("Slot")
    name = f"{service}.{slot}" if slot else f"{service}.{t.get('NodeID', '')}"
    status = t.get("Status") or {}
    container = t["Spec"]["ContainerSpec"]
    ports = [p for p in (status.get("PortStatus") or {}).get("Ports") or []]
    return TaskRow(t["ID"][:12], name, container["Image"].split("@", 1)[0],
                   nodes.get(t.get("NodeID", ""), ""), t["DesiredState"].capitalize(),
                   status.get("State", "").capitalize(), status.get("Timestamp", ""),
                   status.get("Err", ""), _ports(ports), t)


def rm(client: Any, name: str, progress: Progress = print) -> RemoveResult:
    """Remove the stack's services, secrets, configs and networks, printing Docker's lines.
    Prints ``Nothing found in stack: NAME`` when there is nothing; raises StackError
    (after trying everything) when something could not be removed."""
    engine = Engine(client)
    result = RemoveResult(name)
    svcs = _stack_services(engine, name)
    secrets = [s for s in engine.call("failed to list secrets", engine.secrets) if _in_stack(s, name)]
    configs = [c for c in engine.call("failed to list configs", engine.configs) if _in_stack(c, name)]
    networks = [n for n in (engine.call("failed to list networks", engine.networks) or {}).values()
                if _in_stack(n, name)]
    if not (svcs or secrets or configs or networks):
        progress(f"Nothing found in stack: {name}")
        return result
    failed = False
    for kind, items, remove, done, label in (
            ("service", svcs, engine.remove_service, result.services, lambda o: o["Spec"]["Name"]),
            ("secret", secrets, engine.remove_secret, result.secrets, lambda o: o["Spec"]["Name"]),
            ("config", configs, engine.remove_config, result.configs, lambda o: o["Spec"]["Name"]),
            ("network", networks, engine.remove_network, result.networks, network_name)):
        for item in sorted(items, key=label):
            progress(f"Removing {kind} {label(item)}")
            try:
                remove(object_id(item))
                done.append(label(item))
            except Exception as err:  # Docker reports each failure and goes on
                progress(f"Failed to remove {kind} {object_id(item)}: {err}")
                failed = True
    if failed:
        raise StackError(f"Failed to remove some resources from stack: {name}")
    return result
