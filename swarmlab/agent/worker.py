"""The worker: the part of every node that runs what the managers assign.

Theory of operation (swarmkit's `agent`): the worker keeps a session with the leader's
dispatcher (`session.py`); each answer is an assignment, and what to do about it is
decided by the pure `plan` (`reconcile.py`). The worker carries the actions out over a
runtime (`swarmlab.runtime`): a launched task gets a controller driven through
prepare -> start -> wait, a stopped one is shut down with its grace period, a removed one
is forgotten. Task status only moves forward; the runtime reports, the worker forwards.
A task desired `ready` is prepared (its container created) but started only once it is
desired `running`, as swarmkit's agent does. Stopping a running task behind the routing
mesh (published ports, or attached to a network: dockerd's "service binding") waits the
profile's converge delay first, as dockerd's executor waits 2 s after it takes such a task
out of the load balancer: the leader's mesh table drops a task as soon as its desired state
moves past running, and every node picks that up within a poll, so no new connection goes
to a task that is stopping.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..runtime import Controller, Executor, TaskRuntimeSpec, TaskState, TaskStatus
from .node_port import NodePort
from .reconcile import Action, Held, Launch, Lost, Remove, Start, Stop, plan, status_json
from .session import Session

log = logging.getLogger("swarmlab.agent.worker")


class Worker:
    def __init__(self, node: NodePort, executor: Executor) -> None:
        self.node = node
        self.executor = executor
        self.controllers: dict[str, Controller] = {}
        self.runners: dict[str, asyncio.Task] = {}
        self.gates: dict[str, asyncio.Event] = {}  # set: the task may start
        self.specs: dict[str, TaskRuntimeSpec] = {}
        self.lost: dict[str, dict] = {}  # assigned tasks this node no longer runs
        self.converge_s = node.profile.converge_delay_ms / 1000
        self.session = Session(node, self)

    def start(self) -> None:
        self.session.start()

    async def close(self, stop_tasks: bool) -> None:
        await self.session.close()
        if stop_tasks:
            await asyncio.gather(*(self._stop(tid, remove=True) for tid in list(self.controllers)),
                                 return_exceptions=True)

    # -- what the session reports ---------------------------------------------------------
    def statuses(self) -> list[dict]:
        return ([{"TaskID": tid, "Status": status_json(c.status)}
                 for tid, c in self.controllers.items()] +
                [{"TaskID": tid, "Status": st} for tid, st in self.lost.items()])

    def endpoints(self) -> dict[str, dict]:
        """Where each running task answers (its own address), and whether it is ready:
        running, and healthy if it has a health check."""
        out = {}
        for tid, c in self.controllers.items():
            if c.status.state == TaskState.RUNNING and getattr(c, "address", ""):
                healthy = c.health().status != "unhealthy"
                out[tid] = {"Address": c.address, "Ready": healthy,
                            "Remapped": not getattr(self.executor, "privileged", True)}
        return out

    def _on_status(self, _status: TaskStatus) -> None:
        self.session.notify()

    # -- following an assignment ----------------------------------------------------------
    def held(self) -> dict[str, Held]:
        return {tid: Held(c.status.state, tid in self.gates and self.gates[tid].is_set())
                for tid, c in self.controllers.items()}

    async def reconcile(self, doc: dict) -> None:
        actions = plan(doc, self.held(), self.node.name)
        now = time.time_ns()
        self.lost = {a.task_id: self.lost.get(a.task_id) or a.to_json(now)
                     for a in actions if isinstance(a, Lost)}
        for action in actions:
            self._do(action)

    def _do(self, action: Action) -> None:
        if isinstance(action, Launch):
            self._launch(action.spec, start=action.start)
        elif isinstance(action, Start):
            self.gates[action.task_id].set()
        elif isinstance(action, Stop):
            self._stop_soon(action.task_id, remove=False, converge=action.converge)
        elif isinstance(action, Remove):
            self._stop_soon(action.task_id, remove=True)

    def _launch(self, spec: TaskRuntimeSpec, start: bool = True) -> None:
        ctl = self.executor.controller(spec, on_status=self._on_status)
        self.controllers[spec.task_id] = ctl
        self.specs[spec.task_id] = spec
        gate = self.gates[spec.task_id] = asyncio.Event()
        if start:
            gate.set()
        self.runners[spec.task_id] = asyncio.create_task(self._run(ctl, gate))

    async def _run(self, ctl: Controller, gate: asyncio.Event) -> None:
        try:
            await ctl.prepare()
            await gate.wait()  # desired `ready`: prepared, not started yet
            await ctl.start()
            await ctl.wait()
        except Exception as e:  # noqa: BLE001 - the status already says rejected/failed
            log.info("%s: task %s ended: %s", self.node.name, ctl.spec.task_name, e)

    def _stop_soon(self, tid: str, remove: bool, converge: bool = False) -> None:
        # A removal asked for while the stop runs (the task deleted during its converge
        # delay) follows that stop: the assignment does not change again to ask twice.
        key = f"{'remove' if remove else 'stop'}:{tid}"
        if key in self.runners and not self.runners[key].done():
            return
        before = self.runners.get(f"stop:{tid}") if remove else None
        self.runners[key] = asyncio.create_task(self._stop(tid, remove, converge, before))

    async def _stop(self, tid: str, remove: bool, converge: bool = False,
                    before: asyncio.Task | None = None) -> None:
        """Shut the task down (after the converge delay, if `converge` and it runs) and,
        if `remove`, forget it (after the stop `before`, if one runs)."""
        if before is not None and not before.done():
            await asyncio.wait([before])
        ctl = self.controllers.get(tid)
        if ctl is None:
            return
        if ctl.status.state < TaskState.COMPLETE:
            if converge and ctl.status.state == TaskState.RUNNING:
                await asyncio.sleep(self.converge_s)  # out of every node's mesh first
            await ctl.shutdown()
        gate = self.gates.get(tid)
        if gate is not None:
            gate.set()  # prepared and never started: its runner ends (it is shut down)
        if remove:
            await ctl.remove()
            self._forget(tid)

    def _forget(self, tid: str) -> None:
        self.controllers.pop(tid, None)
        self.specs.pop(tid, None)
        self.gates.pop(tid, None)
        self.runners.pop(f"stop:{tid}", None)
        self.runners.pop(f"remove:{tid}", None)
        run = self.runners.pop(tid, None)
        if run:
            run.cancel()

    def logs(self, task_ids: set[str], tail: int | None,
             since: float | None = None) -> list[tuple[str, Any]]:
        """(task ID, line) of each task's last `tail` lines from `since` on."""
        out = []
        for tid in task_ids:
            ctl = self.controllers.get(tid)
            if ctl is not None:
                out += [(tid, line) for line in ctl.logs(tail=tail, since=since)]
        return out
