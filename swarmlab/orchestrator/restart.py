"""The restart supervisor: replace tasks that stopped or lost their node, per `RestartPolicy`.

Theory of operation (swarmkit `manager/orchestrator/restart`):
- A live task (desired running) of a replicated service or job is replaced in its slot
  when its node is drained, down or removed (always: the task did nothing wrong), or when
  it stopped by itself and the policy says so: `Condition` any restarts every exit,
  on-failure every exit but a clean completion, none never. `MaxAttempts` caps the
  restarts counted in the slot's history (within `Window` when it is set).
- Replacing means: the old task's desired state becomes shutdown, and a new task is
  created in the same slot with desired state `ready`; the scheduler places it at once
  and its node prepares it (the container is created). `promote_ready` lets it run
  (desired `running`) once the restart `Delay` has passed since it was created, and once
  no older task of the slot may still be running (stop-first), so a slot never has two.
- Global services are not replaced here (their task belongs to the node; the global
  orchestrator follows the node), but a stopped global task is restarted on its node.
Counting restarts from the stored history (not from memory, as swarmkit does) is what
lets a new leader resume with the same counts; it means `MaxAttempts` can count no more
than the history keeps (`TaskHistoryRetentionLimit`).
"""
from __future__ import annotations

from ..objects import Node, RestartCondition, Service, Task, TaskState
from ..store import ReadTx
from ._common import (
    Context, Writes, by_slot, is_live, new_task, node_gone, node_usable, occupies_slot,
    shut_down,
)


def reconcile_restarts(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    nodes = {n.id: n for n in tx.nodes()}
    for service in tx.services():
        for key, tasks in sorted(by_slot(tx.tasks(service.id)).items(), key=_order):
            live = [t for t in tasks if is_live(t)]
            if not live:
                continue
            newest = live[-1]
            if _needs_restart(service, newest, nodes.get(newest.node_id), tasks, ctx):
                writes.update(shut_down(newest))
                if not service.spec.mode.is_global or node_usable(nodes.get(newest.node_id)):
                    writes.create(new_task(ctx, service, slot=newest.slot,
                                           node_id=newest.node_id if not newest.slot else "",
                                           desired=TaskState.READY))
    return writes


def _order(item: tuple) -> tuple:
    (service_id, slot), _ = item
    return (service_id, str(slot))


def _needs_restart(service: Service, task: Task, node: Node | None, history: list[Task],
                   ctx: Context) -> bool:
    if task.desired_state > TaskState.RUNNING:
        return False  # already on its way out
    if task.node_id and not service.spec.mode.is_global and not node_usable(node):
        return True  # running, or prepared there while it waits (desired `ready`)
    if task.desired_state != TaskState.RUNNING:
        return False  # not started yet (restart delay, or the task it replaces stopping)
    state = task.status.state
    if state < TaskState.COMPLETE:
        return False
    if service.spec.mode.is_global and node_gone(node):
        return False  # the global orchestrator decides about a node that went away
    policy = service.spec.restart_policy
    if policy.condition == RestartCondition.NONE:
        return False
    if state == TaskState.COMPLETE and (policy.condition == RestartCondition.ON_FAILURE
                                        or service.spec.mode.is_job):
        return False
    if policy.max_attempts:
        return _attempts(task, history, policy.window, ctx.now_ns) < policy.max_attempts
    return True


def _attempts(task: Task, history: list[Task], window: int, now_ns: int) -> int:
    """Restarts already made in this slot for this spec (within the window, if any)."""
    count = 0
    for t in history:
        if t is task or t.spec != task.spec or t.desired_state < TaskState.SHUTDOWN:
            continue
        if t.status.state < TaskState.COMPLETE or t.status.state == TaskState.SHUTDOWN:
            continue  # stopped by us (update, drain), not a failure of its own
        if window and now_ns - t.status.timestamp > window:
            continue
        count += 1
    return count


def promote_ready(tx: ReadTx, ctx: Context) -> Writes:
    """Let `ready` tasks run once their delay has passed and their slot is free."""
    writes = Writes()
    nodes = {n.id: n for n in tx.nodes()}
    for service in tx.services():
        for key, tasks in by_slot(tx.tasks(service.id)).items():
            for t in tasks:
                if t.desired_state != TaskState.READY:
                    continue
                if ctx.now_ns < t.created_at + _delay(service, t, tasks):
                    continue
                # wait for the tasks on their way out (stop-first); a live older task
                # (start-first) is retired by the updater once this one runs
                others = [o for o in tasks if o is not t and o.created_at <= t.created_at
                          and not is_live(o)]
                if any(occupies_slot(o, nodes.get(o.node_id)) for o in others):
                    continue
                writes.update(t.replace(desired_state=TaskState.RUNNING))
    return writes


def _delay(service: Service, task: Task, slot_tasks: list[Task]) -> int:
    """The restart delay, when the task replaces one of the same spec (a restart rather
    than an update, which starts as soon as the old task stopped)."""
    before = [t for t in slot_tasks if t is not task and t.created_at <= task.created_at
              and t.id != task.id]
    if before and before[-1].spec == task.spec and before[-1].status.state >= TaskState.COMPLETE \
            and before[-1].status.state != TaskState.SHUTDOWN:
        return service.spec.restart_policy.delay
    return 0
