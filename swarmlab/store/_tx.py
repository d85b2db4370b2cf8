"""Read and write transactions over one consistent set of tables.

A `ReadTx` is what the reconcilers are functions of: a fixed view of every table. A
`WriteTx` also records writes (`create`, `update`, `remove`) and sees them itself; the
store turns them into one command when the transaction ends.
"""
from __future__ import annotations

from typing import Iterator, TypeVar

from ..objects import (
    AlreadyExists, Cluster, InvalidArgument, Config, Network, Node, NotFound, Secret, SequenceError, Service,
    StoreObject, Task,
)
from ._command import Action

O = TypeVar("O", bound=StoreObject)


class ReadTx:
    def __init__(self, tables: dict[str, dict[str, StoreObject]]) -> None:
        self._tables = tables

    def get(self, kind: str, obj_id: str) -> StoreObject | None:
        return self._tables[kind].get(obj_id)

    def all(self, kind: str) -> list[StoreObject]:
        """Every object of a kind, in ID order (deterministic for the reconcilers)."""
        table = self._tables[kind]
        return [table[k] for k in sorted(table)]

    # typed helpers, named after the tables
    def nodes(self) -> list[Node]:
        return self.all("node")  # type: ignore[return-value]

    def services(self) -> list[Service]:
        return self.all("service")  # type: ignore[return-value]

    def secrets(self) -> list[Secret]:
        return self.all("secret")  # type: ignore[return-value]

    def configs(self) -> list[Config]:
        return self.all("config")  # type: ignore[return-value]

    def networks(self) -> list[Network]:
        return self.all("network")  # type: ignore[return-value]

    def tasks(self, service_id: str | None = None, node_id: str | None = None) -> list[Task]:
        out: Iterator[Task] = iter(self.all("task"))  # type: ignore[arg-type]
        if service_id is not None:
            out = (t for t in out if t.service_id == service_id)
        if node_id is not None:
            out = (t for t in out if t.node_id == node_id)
        return list(out)

    def node(self, node_id: str) -> Node | None:
        return self._tables["node"].get(node_id)  # type: ignore[return-value]

    def service(self, service_id: str) -> Service | None:
        return self._tables["service"].get(service_id)  # type: ignore[return-value]

    def task(self, task_id: str) -> Task | None:
        return self._tables["task"].get(task_id)  # type: ignore[return-value]

    def cluster(self) -> Cluster | None:
        clusters = self.all("cluster")
        return clusters[0] if clusters else None  # type: ignore[return-value]

    def lookup(self, kind: str, ref: str) -> StoreObject:
        """Find by full ID, then name (hostname for nodes), then ID prefix, as dockerd
        resolves a reference: Docker's "... not found", or "... is ambiguous" when a name
        or a prefix matches more than one."""
        table = self._tables[kind]
        if ref in table:
            return table[ref]
        found = [o for o in self.all(kind) if _name(o) == ref] or \
            [o for o in self.all(kind) if ref and o.id.startswith(ref)]
        if len(found) > 1:
            raise InvalidArgument(f"{kind} {ref} is ambiguous ({len(found)} matches found)")
        if found:
            return found[0]
        raise NotFound(f"{kind} {ref} not found")


def backward(old: StoreObject, new: StoreObject | None) -> str:
    """Why this write would move a task backward (empty if it does not): a task's
    `Status.State` and `DesiredState` only ever move forward."""
    if not isinstance(old, Task) or not isinstance(new, Task):
        return ""
    if new.status.state < old.status.state:
        return (f"task {old.id}: state cannot move backward from {old.status.state.value} "
                f"to {new.status.state.value}")
    if new.desired_state < old.desired_state:
        return (f"task {old.id}: desired state cannot move backward from "
                f"{old.desired_state.value} to {new.desired_state.value}")
    return ""


def _name(obj: StoreObject) -> str:
    if isinstance(obj, Node):
        return obj.spec.name or obj.description.hostname
    spec = getattr(obj, "spec", None)
    return getattr(spec, "name", "")


class WriteTx(ReadTx):
    def __init__(self, tables: dict[str, dict[str, StoreObject]]) -> None:
        super().__init__(tables)
        self.actions: list[Action] = []

    def create(self, obj: StoreObject) -> StoreObject:
        table = self._tables[obj.kind]
        if not obj.id:
            raise ValueError("an object needs an ID before it is created")
        if obj.id in table:
            raise AlreadyExists(f"{obj.kind} {obj.id} already exists")
        table[obj.id] = obj
        self.actions.append(Action("create", obj.kind, obj.id, obj))
        return obj

    def update(self, obj: StoreObject) -> StoreObject:
        """Write `obj`, which must carry the `Version.Index` it was read at."""
        table = self._tables[obj.kind]
        current = table.get(obj.id)
        if current is None:
            raise NotFound(f"{obj.kind} {obj.id} not found")
        if current.version.index != obj.version.index:
            raise SequenceError()
        if why := backward(current, obj):
            raise InvalidArgument(why)
        table[obj.id] = obj
        self.actions.append(Action("update", obj.kind, obj.id, obj, obj.version.index))
        return obj

    def remove(self, obj: StoreObject) -> None:
        table = self._tables[obj.kind]
        if obj.id not in table:
            raise NotFound(f"{obj.kind} {obj.id} not found")
        del table[obj.id]
        self.actions.append(Action("remove", obj.kind, obj.id, None, obj.version.index))
