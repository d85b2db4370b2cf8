"""The `filters` of `GET /tasks`, `/services` and `/nodes`, as dockerd and swarmkit read them.

dockerd checks the keys against the ones each route accepts (`invalid filter 'KEY'`, 400)
and converts the values (an unknown desired state, role or membership is a plain error,
500, as dockerd answers); swarmkit's List* calls then match them: ANDed across keys,
ORed within one; `id` and `name` are prefixes; `label` is `key` or `key=value`. A task's
`service` and `node` name an object that must exist (`service X not found`, 404).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..objects import Node, Service, Task, TaskState
from ..orchestrator import spec_current
from .errors import APIError

if TYPE_CHECKING:
    from ..store import ReadTx

Filters = dict[str, list[str]]

TASK_KEYS = ("name", "id", "label", "service", "node", "desired-state", "_up-to-date",
             "runtime")
SERVICE_KEYS = ("name", "id", "label", "mode", "runtime")
NODE_KEYS = ("name", "id", "label", "role", "membership", "node.label")
SECRET_KEYS = ("names", "name", "id", "label")  # `names`: exact names
CONFIG_KEYS = ("name", "id", "label")

_MODES = ("replicated", "global", "replicated-job", "global-job")


def accept(f: Filters, keys: tuple[str, ...]) -> None:
    for key in f:
        if key not in keys:
            raise APIError(400, f"invalid filter '{key}'")


def prefixed(value: str, wanted: list[str] | None) -> bool:
    return not wanted or any(value.startswith(w) for w in wanted)


def exact(value: str, wanted: list[str] | None) -> bool:
    return not wanted or value in wanted


def labels_match(labels: dict[str, str], wanted: list[str] | None) -> bool:
    """`key` needs the label, `key=value` needs it with that value (swarmkit reads the
    filter as a map: the last value given for a key counts)."""
    want = dict(_kv(w) for w in wanted or [])
    return all(k in labels and (not v or labels[k] == v) for k, v in want.items())


def _kv(text: str) -> tuple[str, str]:
    k, _, v = text.partition("=")
    return k, v


def _enum_values(f: Filters, key: str, names: dict[str, Any], what: str) -> list[Any]:
    """dockerd's conversion of an enum filter: by name, any case; blanks are skipped."""
    out = []
    for v in f.get(key, []):
        if v.upper() in names:
            out.append(names[v.upper()])
        elif v:
            raise APIError(500, f"Invalid {what} filter: '{v}'")
    return out


def _runtime_ok(f: Filters) -> bool:
    # every swarmlab task is a container; dockerd defaults the filter to containers
    return "runtime" not in f or "container" in f["runtime"]


def task_name(task: Task, service: Service | None) -> str:
    """swarmkit's task name: SERVICE.SLOT.ID (the node's ID for a global service)."""
    name = service.spec.name if service else ""
    return f"{name}.{task.slot or task.node_id}.{task.id}"


def tasks(tx: "ReadTx", f: Filters) -> list[Task]:
    accept(f, TASK_KEYS)
    states = _enum_values(f, "desired-state", {s.name: s for s in TaskState}, "desired-state")
    service_ids = [tx.lookup("service", s).id for s in f.get("service", [])]
    node_ids = [tx.lookup("node", n).id for n in f.get("node", [])]
    services = {s.id: s for s in tx.services()}
    up_to_date = "_up-to-date" in f  # any value, as dockerd reads it
    if not _runtime_ok(f):
        return []
    out = []
    for t in tx.tasks():
        svc = services.get(t.service_id)
        if not (prefixed(task_name(t, svc), f.get("name")) and prefixed(t.id, f.get("id"))
                and labels_match(svc.spec.labels if svc else {}, f.get("label"))
                and exact(t.service_id, service_ids) and exact(t.node_id, node_ids)
                and (not states or t.desired_state in states)):
            continue
        if up_to_date and (svc is None or not spec_current(t, svc)):
            continue
        out.append(t)
    return out


def services(tx: "ReadTx", f: Filters) -> list[Service]:
    accept(f, SERVICE_KEYS)
    if not _runtime_ok(f):
        return []
    return [s for s in tx.services()
            if prefixed(s.spec.name, f.get("name")) and prefixed(s.id, f.get("id"))
            and labels_match(s.spec.labels, f.get("label"))
            and exact(_mode(s), f.get("mode"))]


def _mode(s: Service) -> str:
    m = s.spec.mode
    return _MODES[0] if m.replicated else _MODES[1] if m.global_ else \
        _MODES[2] if m.replicated_job else _MODES[3]


def nodes(tx: "ReadTx", f: Filters) -> list[Node]:
    accept(f, NODE_KEYS)
    roles = _enum_values(f, "role", {"WORKER": "worker", "MANAGER": "manager"}, "role")
    # swarmlab admits every node it lists: all are `accepted`
    memberships = _enum_values(f, "membership", {"PENDING": "pending",
                                                 "ACCEPTED": "accepted"}, "membership")
    return [n for n in tx.nodes()
            if prefixed(n.hostname, f.get("name")) and prefixed(n.id, f.get("id"))
            and labels_match(n.description.engine.labels if n.description.engine else {},
                             f.get("label"))
            and labels_match(n.spec.labels, f.get("node.label"))
            and (not roles or n.spec.role.value in roles)
            and (not memberships or "accepted" in memberships)]


def secrets_or_configs(tx: "ReadTx", kind: str, f: Filters) -> list[Any]:
    accept(f, SECRET_KEYS if kind == "secret" else CONFIG_KEYS)
    return [o for o in tx.all(kind) if named(o, f) and exact(o.spec.name, f.get("names"))]


def named(obj: Any, f: Filters) -> bool:
    """The `id` and `name` (prefixes) and `label` filters of an object with a spec."""
    return (prefixed(obj.id, f.get("id")) and prefixed(obj.spec.name, f.get("name"))
            and labels_match(obj.spec.labels, f.get("label")))


__all__ = ["CONFIG_KEYS", "Filters", "NODE_KEYS", "SECRET_KEYS", "SERVICE_KEYS", "TASK_KEYS",
           "accept", "exact", "labels_match", "named", "nodes", "prefixed",
           "secrets_or_configs", "services", "task_name", "tasks"]
