"""The scheduler: places pending tasks on nodes, as a plain function of a store view.

Theory of operation (as swarmkit's `manager/scheduler`): build a `NodeInfo` per node from
the tasks already on it; for each task waiting for a node, run the filter pipeline; among
the nodes that pass, follow the spread preferences (an even share for every value of the
spread label), then Docker's ranking: nodes where this service recently failed last, then
fewest tasks of this service, then fewest tasks in all. A task that fits nowhere stays
`pending` with `Status.Err` explaining why in Docker's words. Each placement is counted
at once, so one pass spreads a whole batch of new tasks.
"""
from __future__ import annotations

from ..objects import SECOND_NS, Task, TaskState, TaskStatus
from ..store import ReadTx
from .constraint import node_value
from .filters import NodeInfo, Pipeline

#: swarmkit's "potentially faulty node" rule: this many failures of a service on a node
#: within the window put the node last for that service.
MAX_FAILURES = 5
FAILURE_WINDOW_NS = 5 * 60 * SECOND_NS

PENDING_MESSAGE = "pending task scheduling"
ASSIGNED_MESSAGE = "scheduler assigned task to node"


def occupies_node(task: Task) -> bool:
    """A task that holds a place (and its reservations) on its node."""
    return (bool(task.node_id) and task.desired_state <= TaskState.RUNNING
            and task.status.state <= TaskState.RUNNING)


def waiting_for_node(task: Task) -> bool:
    """Placed while desired `ready` too, as swarmkit's: the node prepares such a task
    (creates its container) during a restart delay or while the task it replaces stops,
    and starts it once it is desired `running`."""
    return (task.desired_state in (TaskState.READY, TaskState.RUNNING)
            and task.status.state < TaskState.ASSIGNED)


def node_infos(tx: ReadTx, now_ns: int) -> dict[str, NodeInfo]:
    infos = {n.id: NodeInfo(n) for n in tx.nodes()}
    for t in tx.tasks():
        info = infos.get(t.node_id)
        if info is None:
            continue
        if occupies_node(t) and t.status.state >= TaskState.ASSIGNED:
            info.add(t)
        elif (t.status.state in (TaskState.FAILED, TaskState.REJECTED)
              and now_ns - t.status.timestamp <= FAILURE_WINDOW_NS):
            info.recent_failures[t.service_id] = info.recent_failures.get(t.service_id, 0) + 1
    return infos


def schedule(tx: ReadTx, now_ns: int, pipeline: Pipeline | None = None) -> list[Task]:
    """The task writes that place (or explain) every task waiting for a node."""
    pipeline = pipeline or Pipeline()
    infos = node_infos(tx, now_ns)
    ordered = [infos[k] for k in sorted(infos)]
    writes: list[Task] = []
    waiting = sorted((t for t in tx.tasks() if waiting_for_node(t)),
                     key=lambda t: (t.service_id, t.slot, t.node_id, t.id))
    for task in waiting:
        if task.node_id:  # global tasks come with their node
            candidates = [infos[task.node_id]] if task.node_id in infos else []
        else:
            candidates = ordered
        ok, why = pipeline.eligible(task, candidates)
        if ok:
            chosen = pick(task, ok)
            chosen.add(task)
            writes.append(_assign(task, chosen.node.id, now_ns))
        else:
            updated = _explain(task, why, now_ns)
            if updated is not None:
                writes.append(updated)
    return writes


def pick(task: Task, infos: list[NodeInfo]) -> NodeInfo:
    prefs = task.spec.placement.preferences if task.spec.placement else ()
    descriptors = [p.spread.spread_descriptor for p in prefs if p.spread is not None]
    for descriptor in descriptors:
        branches: dict[str, list[NodeInfo]] = {}
        for info in infos:
            branches.setdefault(node_value(descriptor, info.node) or "", []).append(info)
        share = {v: sum(i.tasks_by_service.get(task.service_id, 0) for i in b)
                 for v, b in branches.items()}
        infos = branches[min(branches, key=lambda v: (share[v], v))]
    return min(infos, key=lambda i: _rank(task, i))


def _rank(task: Task, info: NodeInfo) -> tuple:
    faulty = info.recent_failures.get(task.service_id, 0) >= MAX_FAILURES
    return (faulty, info.tasks_by_service.get(task.service_id, 0), info.total_tasks,
            info.node.description.hostname, info.node.id)


def _assign(task: Task, node_id: str, now_ns: int) -> Task:
    status = TaskStatus(timestamp=now_ns, state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE)
    return task.replace(node_id=node_id, status=status)


def _explain(task: Task, why: str, now_ns: int) -> Task | None:
    err = f"no suitable node ({why})" if why else "no suitable node"
    if task.status.state == TaskState.PENDING and task.status.err == err:
        return None
    status = TaskStatus(timestamp=now_ns, state=TaskState.PENDING, message=PENDING_MESSAGE,
                        err=err)
    return task.replace(status=status)
