"""A fake runtime: synchronous, deterministic, one task state per step (swarmkit's stubs).

Theory of operation: the simulator and the control-plane harness run the production
worker logic (`swarmlab.agent.reconcile.plan`) over this runtime, stepping it once per
heartbeat: nothing sleeps and nothing is random, so a seed replays exactly. A task moves
one state per `step()` (accepted, preparing, ready, starting, running) as far as the agent
wants it (`ready` when only prepared, `running` when started), and a shutdown ends it at
once. Images script what happens, as the lab's workloads do:

- `*:reject` is rejected while it prepares (`No such image: ...`);
- `*:broken` fails (`task: non-zero exit (1)`) after `RUN_STEPS` steps running, and so does
  any image in the executor's `fail_images` at its first;
- `*:exit0` completes (exit 0) after `RUN_STEPS` steps running;
- anything else runs until it is shut down.

The controller also speaks the asynchronous `Controller` protocol (each call steps until
it has its answer; `wait()` steps every `step_s`), so the runtime contract suite runs
over it like over the process and Docker runtimes.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from .base import (
    Controller, Executor, HealthState, LogLine, StatusCallback, TaskRuntimeSpec, TaskState,
    TaskStatus, TaskStatusKeeper,
)

RUN_STEPS = 3
STEPS = (TaskState.ACCEPTED, TaskState.PREPARING, TaskState.READY, TaskState.STARTING,
         TaskState.RUNNING)
MESSAGES = {TaskState.PREPARING: "preparing", TaskState.READY: "prepared",
            TaskState.STARTING: "starting", TaskState.RUNNING: "started"}
EXIT_1 = "task: non-zero exit (1)"


class FakeController(Controller):
    def __init__(self, executor: "FakeExecutor", spec: TaskRuntimeSpec,
                 on_status: StatusCallback | None) -> None:
        self.spec, self._executor = spec, executor
        self.keeper = TaskStatusKeeper(spec.task_name, on_status, clock=executor.clock)
        self.target = TaskState.ACCEPTED  # how far the agent wants it: ready, or running
        self.ran = 0                      # steps spent running
        self.address = ""                 # no network: the mesh never routes to it

    # -- the synchronous face: what the simulator drives ------------------------------------
    def want(self, state: TaskState) -> None:
        """Prepare (`ready`) or start (`running`): it gets there one step at a time."""
        self.target = max(self.target, state)

    def stop(self) -> None:
        self.keeper.set(TaskState.SHUTDOWN, "shutdown")

    def step(self) -> None:
        """One state forward, as far as wanted; a running task counts its steps."""
        state, image = self.keeper.state, self.spec.image
        if state.terminal:
            return
        if state == TaskState.RUNNING:
            self.ran += 1
            if image in self._executor.fail_images or (
                    image.endswith(":broken") and self.ran >= RUN_STEPS):
                self.keeper.set(TaskState.FAILED, "started", EXIT_1, exit_code=1)
            elif image.endswith(":exit0") and self.ran >= RUN_STEPS:
                self.keeper.set(TaskState.COMPLETE, "finished", exit_code=0)
            return
        nxt = STEPS[STEPS.index(state) + 1]
        if nxt > self.target:
            return
        self.keeper.set(nxt, MESSAGES[nxt])
        if nxt == TaskState.PREPARING and image.endswith(":reject"):
            self.keeper.reject(f"No such image: {image}")  # within the same prepare, as a runtime's

    # -- the Controller protocol ------------------------------------------------------------
    def _step_until(self, state: TaskState) -> None:
        while self.keeper.state < state and not self.keeper.state.terminal:
            before = self.keeper.state
            self.step()
            if self.keeper.state == before:
                return  # not wanted further

    async def prepare(self) -> None:
        self.want(TaskState.READY)
        self._step_until(TaskState.READY)

    async def start(self) -> None:
        self.want(TaskState.RUNNING)
        self._step_until(TaskState.RUNNING)

    async def wait(self) -> TaskStatus:
        while not self.keeper.state.terminal:
            if self.keeper.state == TaskState.RUNNING:
                self.step()
            if not self.keeper.state.terminal:
                await asyncio.sleep(self._executor.step_s)
        return self.status

    async def shutdown(self, grace_s: float | None = None) -> None:
        self.stop()

    async def remove(self) -> None:
        self.stop()
        self._executor.forget(self)

    def health(self) -> HealthState:
        return HealthState("none")

    def logs(self, tail: int | None = None, since: float | None = None) -> list[LogLine]:
        return []

    def endpoint(self, target_port: int) -> tuple[str, int] | None:
        return None


class FakeExecutor(Executor):
    """One node's fake runtime. `clock` gives the status timestamps (seconds)."""

    privileged = True

    def __init__(self, node_name: str = "", *, clock: Callable[[], float] = time.time,
                 step_s: float = 0.01, fail_images: set[str] | None = None) -> None:
        self.node_name, self.clock, self.step_s = node_name, clock, step_s
        self.fail_images = fail_images if fail_images is not None else set()
        self._controllers: dict[str, FakeController] = {}

    def controller(self, spec: TaskRuntimeSpec,
                   on_status: StatusCallback | None = None) -> FakeController:
        if spec.task_id not in self._controllers:
            self._controllers[spec.task_id] = FakeController(self, spec, on_status)
        return self._controllers[spec.task_id]

    @property
    def controllers(self) -> list[FakeController]:
        return list(self._controllers.values())

    def get(self, task_id: str) -> FakeController | None:
        return self._controllers.get(task_id)

    def forget(self, ctl: FakeController) -> None:
        self._controllers.pop(ctl.spec.task_id, None)

    def step(self) -> None:
        """Every task one step on."""
        for ctl in self.controllers:
            ctl.step()

    def set_names(self, names: dict[str, list[str]]) -> None:
        """Service discovery: nothing to rewrite, the fake tasks resolve no names."""

    async def close(self) -> None:
        for ctl in self.controllers:
            await ctl.remove()
