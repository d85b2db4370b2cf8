"""The replicated orchestrator: keep `Replicas` slots filled, one live task per slot.

Slots are numbered from 1. Scaling up fills the lowest free numbers; scaling down asks
the tasks of the surplus slots to go away (`DesiredState` remove; the reaper deletes them
once stopped), choosing slots whose task is not running first, then tasks on the nodes
with the most tasks of the service (so the rest stays spread), then the highest numbers.
Replacing a failed task is the restart supervisor's job, not this one's: a slot whose
task died and will not be restarted (restart condition) still counts as filled.
"""
from __future__ import annotations

from collections import Counter

from ..objects import Service, TaskState
from ..store import ReadTx
from ._common import Context, Writes, by_slot, is_live, new_task, shut_down


def reconcile_replicated(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    for service in tx.services():
        replicated = service.spec.mode.replicated
        if replicated is None:
            continue
        _reconcile_service(tx, ctx, service, replicated.replicas, writes)
    return writes


def _reconcile_service(tx: ReadTx, ctx: Context, service: Service, replicas: int,
                       writes: Writes) -> None:
    live = {key[1]: ts for key, tasks in by_slot(tx.tasks(service.id)).items()
            if (ts := [t for t in tasks if is_live(t)])}
    if len(live) < replicas:
        free = (n for n in range(1, replicas + len(live) + 1) if n not in live)
        for _ in range(replicas - len(live)):
            writes.create(new_task(ctx, service, slot=next(free)))
    elif len(live) > replicas:
        per_node = Counter(ts[-1].node_id for ts in live.values())
        candidates = set(live)

        def remove_first(slot: int | str) -> tuple:
            # not yet running first, then from the busiest node, then the highest slot
            newest = live[slot][-1]
            running = newest.status.state == TaskState.RUNNING
            return (running, -per_node[newest.node_id], -int(slot))
        for _ in range(len(live) - replicas):
            slot = min(candidates, key=remove_first)
            candidates.discard(slot)
            per_node[live[slot][-1].node_id] -= 1
            for t in live[slot]:
                writes.update(shut_down(t, TaskState.REMOVE))
