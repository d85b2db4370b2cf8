"""The global orchestrator: one task per eligible node, following nodes as they change.

A node is eligible when it is ready, not drained, and matches the placement constraints.
A new eligible node gets a task; a node that is drained, removed, or no longer matches
has its task shut down (and not replaced elsewhere: the task belongs to the node). A
paused node keeps its task; a down node keeps it too, until the node returns or is removed.
Global jobs use the same rule, except that a node's completed task is never run again
in the same job iteration.
"""
from __future__ import annotations

from ..objects import Node, NodeAvailability, NodeState, Service, TaskState
from ..scheduler import matches_all, parse_all
from ..store import ReadTx
from ._common import Context, Writes, current_iteration, is_live, new_task, shut_down


def eligible(node: Node, service: Service) -> bool:
    placement = service.spec.task_template.placement
    constraints = parse_all(placement.constraints) if placement else []
    return (node.status.state == NodeState.READY
            and node.spec.availability == NodeAvailability.ACTIVE
            and matches_all(constraints, node))


def keeps_task(node: Node | None, service: Service) -> bool:
    """May a node keep a task it already has? (pause and down keep; drain does not)"""
    if node is None or node.spec.availability == NodeAvailability.DRAIN:
        return False
    placement = service.spec.task_template.placement
    return matches_all(parse_all(placement.constraints) if placement else [], node)


def reconcile_global(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    nodes = {n.id: n for n in tx.nodes()}
    for service in tx.services():
        if not service.spec.mode.is_global:
            continue
        is_job = service.spec.mode.global_job is not None
        iteration = current_iteration(service)
        tasks = tx.tasks(service.id)
        if is_job:
            tasks = [t for t in tasks if t.job_iteration == iteration]
        have: dict[str, list] = {}
        for t in tasks:
            if is_live(t):
                have.setdefault(t.node_id, []).append(t)
        done = {t.node_id for t in tasks if t.status.state == TaskState.COMPLETE}
        for node_id, ts in sorted(have.items()):
            if not keeps_task(nodes.get(node_id), service):
                for t in ts:
                    writes.update(shut_down(t))
        for node_id, node in sorted(nodes.items()):
            if node_id in have or (is_job and node_id in done):
                continue
            if eligible(node, service):
                writes.create(new_task(ctx, service, node_id=node_id))
    return writes
