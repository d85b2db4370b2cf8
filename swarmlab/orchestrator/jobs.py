"""Replicated jobs: run tasks until `TotalCompletions` have completed, `MaxConcurrent` at a time.

Each slot runs until one task in it completes (a failed task is restarted in its slot by
the restart supervisor, on-failure by default for jobs). A new job iteration (`service
update --force` on a job) starts over; tasks of older iterations are shut down.
(Global jobs are run by the global orchestrator.)
"""
from __future__ import annotations

from ..objects import Service, TaskState
from ..store import ReadTx
from ._common import Context, Writes, by_slot, current_iteration, is_live, new_task, shut_down


def reconcile_jobs(tx: ReadTx, ctx: Context) -> Writes:
    writes = Writes()
    for service in tx.services():
        if service.spec.mode.replicated_job is not None or service.spec.mode.global_job is not None:
            _retire_old_iterations(tx, service, writes)
        if service.spec.mode.replicated_job is not None:
            _reconcile_replicated_job(tx, ctx, service, writes)
    return writes


def _retire_old_iterations(tx: ReadTx, service: Service, writes: Writes) -> None:
    iteration = current_iteration(service)
    for t in tx.tasks(service.id):
        if t.job_iteration != iteration and is_live(t):
            writes.update(shut_down(t))


def _reconcile_replicated_job(tx: ReadTx, ctx: Context, service: Service,
                              writes: Writes) -> None:
    job = service.spec.mode.replicated_job
    assert job is not None
    iteration = current_iteration(service)
    tasks = [t for t in tx.tasks(service.id) if t.job_iteration == iteration]
    slots = by_slot(tasks)
    running = 0
    for ts in slots.values():
        done = any(t.status.state == TaskState.COMPLETE for t in ts)
        if not done and any(is_live(t) for t in ts):
            running += 1
    used = {int(key[1]) for key in slots}
    next_slot = max(used, default=0) + 1
    while running < job.max_concurrent and len(used) < job.total_completions:
        writes.create(new_task(ctx, service, slot=next_slot))
        used.add(next_slot)
        next_slot += 1
        running += 1
