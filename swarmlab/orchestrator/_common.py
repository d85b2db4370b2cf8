"""What every reconciler shares: the writes they return, slots, and making a task.

A reconciler is a plain function of a `ReadTx` (and the time, and an ID source) that
returns `Writes`; the manager commits them in one store transaction. A reconciler that
ran on a stale view simply has its command refused (stale `Version.Index`) and runs again
on the next tick, which is why they can hold no state of their own and why a new leader
resumes where the old one stopped.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from ..objects import (
    Endpoint, JobIteration, Node, NodeAvailability, NodeState, Service, StoreObject, Task,
    TaskState, TaskStatus, new_id,
)
from ..store import WriteTx


@dataclass
class Writes:
    """Objects to create, update or remove; the last update of an object wins."""

    creates: list[StoreObject] = field(default_factory=list)
    updates: dict[tuple[str, str], StoreObject] = field(default_factory=dict)
    removes: dict[tuple[str, str], StoreObject] = field(default_factory=dict)

    def create(self, obj: StoreObject) -> None:
        self.creates.append(obj)

    def update(self, obj: StoreObject) -> None:
        self.updates[(obj.kind, obj.id)] = obj

    def remove(self, obj: StoreObject) -> None:
        self.updates.pop((obj.kind, obj.id), None)
        self.removes[(obj.kind, obj.id)] = obj

    def extend(self, other: "Writes") -> None:
        self.creates.extend(other.creates)
        self.updates.update(other.updates)
        for k, v in other.removes.items():
            self.remove(v)

    def __bool__(self) -> bool:
        return bool(self.creates or self.updates or self.removes)

    def __len__(self) -> int:
        return len(self.creates) + len(self.updates) + len(self.removes)

    def apply(self, tx: WriteTx) -> None:
        for obj in self.creates:
            tx.create(obj)
        for obj in self.updates.values():
            tx.update(obj)
        for obj in self.removes.values():
            tx.remove(obj)


@dataclass(frozen=True)
class Context:
    """What a reconciler gets besides the view: the time, IDs, and the history limit."""

    now_ns: int
    rng: random.Random
    retention: int = 5

    def new_id(self) -> str:
        return new_id(self.rng)


def is_live(task: Task) -> bool:
    """The orchestrator still wants this task (it fills its slot)."""
    return task.desired_state <= TaskState.RUNNING


def slot_key(task: Task) -> tuple[str, int | str]:
    """Replicated tasks share a numbered slot; a global service's slot is its node."""
    return (task.service_id, task.slot if task.slot else task.node_id)


def by_slot(tasks: Iterable[Task]) -> dict[tuple[str, int | str], list[Task]]:
    """Tasks grouped by slot, oldest first within a slot."""
    out: dict[tuple[str, int | str], list[Task]] = defaultdict(list)
    for t in tasks:
        out[slot_key(t)].append(t)
    for ts in out.values():
        ts.sort(key=lambda t: (t.created_at, t.id))
    return out


def node_usable(node: Node | None) -> bool:
    """A task on this node can keep running: the node exists, is not down, not drained."""
    return (node is not None and node.status.state != NodeState.DOWN
            and node.spec.availability != NodeAvailability.DRAIN)


def node_gone(node: Node | None) -> bool:
    """Tasks on this node cannot be reached: removed or down."""
    return node is None or node.status.state == NodeState.DOWN


def occupies_slot(task: Task, node: Node | None) -> bool:
    """A task that may still be running: not finished, and its node not gone."""
    if task.status.state >= TaskState.COMPLETE:
        return False
    if not task.node_id or task.status.state < TaskState.ASSIGNED:
        return False
    return not node_gone(node)


def new_task(ctx: Context, service: Service, slot: int = 0, node_id: str = "",
             desired: TaskState = TaskState.RUNNING) -> Task:
    spec = service.spec
    endpoint = Endpoint(spec=spec.endpoint_spec) if spec.endpoint_spec else None
    iteration = service.job_status.job_iteration if service.job_status else None
    name = f"{spec.name}.{slot}" if slot else f"{spec.name}.{node_id}"
    return Task(
        id=ctx.new_id(), name=name, spec=spec.task_template, service_id=service.id,
        slot=slot, node_id=node_id, desired_state=desired, endpoint=endpoint,
        status=TaskStatus(timestamp=ctx.now_ns, state=TaskState.NEW, message="created"),
        job_iteration=iteration if spec.mode.is_job else None,
    )


def shut_down(task: Task, desired: TaskState = TaskState.SHUTDOWN) -> Task:
    """Ask for a task to stop: its desired state moves forward (never back)."""
    if task.desired_state >= desired:
        return task
    return task.replace(desired_state=desired)


def spec_current(task: Task, service: Service) -> bool:
    """The task runs the service's current task template (and endpoint)."""
    endpoint = service.spec.endpoint_spec
    task_endpoint = task.endpoint.spec if task.endpoint else None
    return task.spec == service.spec.task_template and task_endpoint == endpoint


def current_iteration(service: Service) -> JobIteration | None:
    return service.job_status.job_iteration if service.job_status else None
