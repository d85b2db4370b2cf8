"""The task reaper: keep `TaskHistoryRetentionLimit` tasks per slot, delete what is finished.

Deletes (a) tasks whose desired state is `remove` (scale-down, removed service) once they
cannot be running any more, (b) tasks of services that no longer exist, likewise, and
(c) the oldest finished tasks of a slot beyond the retention limit (default 5, the
cluster's `Orchestration.TaskHistoryRetentionLimit`).
"""
from __future__ import annotations

from ..objects import TaskState
from ..store import ReadTx
from ._common import Context, Writes, by_slot, is_live, occupies_slot, shut_down


def reconcile_reaper(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    nodes = {n.id: n for n in tx.nodes()}
    services = {s.id for s in tx.services()}
    for key, tasks in by_slot(tx.tasks()).items():
        kept = []
        for t in tasks:
            gone = t.service_id not in services
            if gone and t.desired_state < TaskState.REMOVE:
                writes.update(shut_down(t, TaskState.REMOVE))
            elif (gone or t.desired_state == TaskState.REMOVE) and \
                    not occupies_slot(t, nodes.get(t.node_id)):
                writes.remove(t)
            else:
                kept.append(t)
        finished = [t for t in kept if not is_live(t) and
                    not occupies_slot(t, nodes.get(t.node_id))]
        extra = len(kept) - max(ctx.retention, 1)
        for t in finished[: max(extra, 0)]:
            writes.remove(t)
    return writes
