"""The control plane's invariants, for the simulator and the tests to check after each step.

- One task per slot: no two tasks of a slot both running and desired running. A start-first
  update overlaps them on purpose until the next reconcile retires the old one, so a slot of
  a start-first service may overlap for `start_first_grace_steps` checks; stop-first never.
- A global service has at most one such task per node (its slot is the node).
- A task's `Status.State` and `DesiredState` never move backward (seen on the watch stream).
- Once settled: no task runs on a drained node, at most one task of a slot runs at all.
- Converged (once faults stop): every service has its tasks running its current spec,
  `Replicas` of them, or one on every eligible node for a global service.
"""
from __future__ import annotations

from collections import Counter

from ..objects import NodeAvailability, TaskState, UpdateOrder
from ..store import Event, MemoryStore, ReadTx
from .global_ import eligible, keeps_task


class InvariantChecker:
    def __init__(self, start_first_grace_steps: int = 2) -> None:
        self.grace = start_first_grace_steps
        self.violations: list[str] = []
        self._overlap: dict[tuple, int] = {}

    def watch(self, store: MemoryStore) -> None:
        store.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.kind != "task" or ev.action != "update" or ev.old is None:
            return
        old, new = ev.old, ev.object
        if new.status.state < old.status.state:  # type: ignore[attr-defined]
            self.violations.append(f"task {new.id} state moved backward")
        if new.desired_state < old.desired_state:  # type: ignore[attr-defined]
            self.violations.append(f"task {new.id} desired state moved backward")

    def after_step(self, view: ReadTx) -> list[str]:
        """Check one slot, one task; returns (and keeps) the new violations."""
        start_first = {s.id for s in view.services()
                       if UpdateOrder.START_FIRST in (s.spec.update.order, s.spec.rollback.order)}
        wanted = [t for t in view.tasks() if t.desired_state == TaskState.RUNNING
                  and t.status.state == TaskState.RUNNING]
        per_slot = Counter((t.service_id, t.slot or t.node_id) for t in wanted)
        overlapping = {key for key, n in per_slot.items() if n > 1}
        self._overlap = {key: self._overlap.get(key, 0) + 1 for key in overlapping}
        found = [f"{per_slot[key]} running tasks in slot {key}"
                 for key, steps in self._overlap.items()
                 if steps > (self.grace if key[0] in start_first else 0)]
        self.violations.extend(found)
        return found

    def settled(self, view: ReadTx) -> list[str]:
        """What must hold once the cluster settled (no faults, nothing in flight)."""
        running = [t for t in view.tasks() if t.status.state == TaskState.RUNNING]
        found = [f"{n} running tasks in slot {key}" for key, n in
                 Counter((t.service_id, t.slot or t.node_id) for t in running).items() if n > 1]
        drained = {n.id for n in view.nodes() if n.spec.availability == NodeAvailability.DRAIN}
        found += [f"task {t.id} runs on drained node {t.node_id}" for t in running
                  if t.node_id in drained]
        return found


def converged(view: ReadTx) -> bool:
    """Every service runs what it asks for: its current spec, its number of tasks."""
    for svc in view.services():
        if svc.spec.mode.is_job:
            continue
        tasks = view.tasks(svc.id)
        running = [t for t in tasks if t.status.state == TaskState.RUNNING]
        if any(t.spec != svc.spec.task_template for t in running):
            return False
        if any(t.status.state < TaskState.RUNNING for t in tasks
               if t.desired_state == TaskState.RUNNING):
            return False
        if svc.spec.mode.replicated is not None:
            if len(running) != svc.spec.mode.replicated.replicas:
                return False
            continue
        on = Counter(t.node_id for t in running)  # global: one per eligible node
        if any(on[n.id] != 1 for n in view.nodes() if eligible(n, svc)):
            return False
        if any(not keeps_task(view.node(nid), svc) or k > 1 for nid, k in on.items()):
            return False
    return True
