"""Rolling updates and rollbacks, driven by `Service.UpdateStatus` and the tasks alone.

Theory of operation (swarmkit `manager/orchestrator/update`, reduced to a function of
the store so a new leader resumes a half-done update):
- A service is updating while `UpdateStatus.State` is `updating` or `rollback_started`;
  the config is `UpdateConfig` or `RollbackConfig`. A slot is *dirty* when none of its live
  tasks runs the current task template.
- Batches: when no updated task is still on its way to `running`, and `Delay` has passed
  since the last one got there, the next `Parallelism` dirty slots (all if 0) are updated.
  stop-first: the old task is shut down and the new one waits (desired `ready`) until the
  old one stopped. start-first: the new task starts at once; the old one is shut down when
  the new one runs.
- Failures: an updated task (created since `StartedAt`) that failed, was rejected or
  exited counts; when failures / slots > `MaxFailureRatio` the `FailureAction` applies:
  pause (`paused`, or `rollback_paused`), continue, or rollback (swap `Spec` and
  `PreviousSpec`, `rollback_started`).
- When no slot is dirty and every updated task has run for `Monitor`, the update is
  `completed` (or `rollback_completed`).
Simplification: a failure counts whenever it happens during the update, not only within
`Monitor` of that task's start (the store keeps no per-task start time).
"""
from __future__ import annotations

from ..objects import (
    FailureAction, Service, Task, TaskState, UpdateConfig, UpdateOrder, UpdateState,
    UpdateStatus,
)
from ..store import ReadTx
from ._common import Context, Writes, by_slot, is_live, new_task, shut_down, spec_current

ACTIVE = (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED)
FAILED_STATES = (TaskState.FAILED, TaskState.REJECTED, TaskState.COMPLETE)


def reconcile_updates(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    for service in tx.services():
        if service.spec.mode.is_job:
            continue
        slots = {k: ts for k, ts in by_slot(tx.tasks(service.id)).items()
                 if any(is_live(t) for t in ts)}
        _retire_replaced(service, slots, writes)
        status = service.update_status
        if status is not None and status.state in ACTIVE:
            _advance(service, status, slots, ctx, writes)
    return writes


def _retire_replaced(service: Service, slots: dict, writes: Writes) -> None:
    """start-first: once a newer task of a slot runs, the slot's older live tasks stop
    (whatever their spec: a second update may have come before the first finished)."""
    for ts in slots.values():
        live = [t for t in ts if is_live(t)]
        running = [i for i, t in enumerate(live) if t.status.state == TaskState.RUNNING]
        if len(live) < 2 or not running:
            continue
        for t in live[: running[-1]]:
            writes.update(shut_down(t))


def _advance(service: Service, status: UpdateStatus, slots: dict, ctx: Context,
             writes: Writes) -> None:
    rolling_back = status.state == UpdateState.ROLLBACK_STARTED
    config = service.spec.rollback if rolling_back else service.spec.update
    started = status.started_at or 0
    updated = [t for ts in slots.values() for t in ts
               if spec_current(t, service) and t.created_at >= started]
    failed = [t for t in updated if t.status.state in FAILED_STATES]
    if failed and config.failure_action != FailureAction.CONTINUE \
            and len(failed) / max(len(slots), 1) > config.max_failure_ratio:
        writes.update(_on_failure(service, config, failed[0], rolling_back, ctx))
        return
    if any(t.status.state < TaskState.RUNNING and is_live(t) for t in updated):
        return  # the current batch is still starting
    ran = [t.status.timestamp for t in updated if t.status.state == TaskState.RUNNING]
    last = max(ran, default=started)
    dirty = sorted((k for k, ts in slots.items()
                    if not any(is_live(t) and spec_current(t, service) for t in ts)),
                   key=lambda k: str(k[1]).zfill(12))
    if dirty:
        if ctx.now_ns >= last + config.delay or not ran:
            batch = dirty[: config.parallelism] if config.parallelism else dirty
            for key in batch:
                _update_slot(service, slots[key], config, ctx, writes)
    elif ctx.now_ns >= last + config.monitor:
        done = UpdateState.ROLLBACK_COMPLETED if rolling_back else UpdateState.COMPLETED
        message = "rollback completed" if rolling_back else "update completed"
        writes.update(service.replace(update_status=UpdateStatus(
            state=done, started_at=status.started_at, completed_at=ctx.now_ns,
            message=message)))


def _update_slot(service: Service, tasks: list[Task], config: UpdateConfig, ctx: Context,
                 writes: Writes) -> None:
    live = [t for t in tasks if is_live(t)]
    old = live[-1]
    start_first = config.order == UpdateOrder.START_FIRST
    desired = TaskState.RUNNING if start_first else TaskState.READY
    writes.create(new_task(ctx, service, slot=old.slot,
                           node_id=old.node_id if not old.slot else "", desired=desired))
    if not start_first:
        for t in live:
            writes.update(shut_down(t))


def _on_failure(service: Service, config: UpdateConfig, task: Task, rolling_back: bool,
                ctx: Context) -> Service:
    why = f"due to failure or early termination of task {task.id}"
    if config.failure_action == FailureAction.ROLLBACK and not rolling_back \
            and service.previous_spec is not None:
        return service.replace(
            spec=service.previous_spec, previous_spec=service.spec,
            update_status=UpdateStatus(state=UpdateState.ROLLBACK_STARTED,
                                       started_at=ctx.now_ns, message=f"update rolled back {why}"))
    state = UpdateState.ROLLBACK_PAUSED if rolling_back else UpdateState.PAUSED
    prefix = "rollback paused" if rolling_back else "update paused"
    return service.replace(update_status=UpdateStatus(
        state=state, started_at=service.update_status.started_at if service.update_status else None,
        message=f"{prefix} {why}"))
