"""The runtime contract: what the agent may rely on from every runtime (fake, process, Docker).

Each check is a coroutine `check(ex, task, images)`: `ex` is a fresh executor, `task(image,
**kw)` makes a `TaskRuntimeSpec`, `images` says which image plays each part on that runtime.
It raises AssertionError when the runtime breaks the contract. Plain Python and the
standard library only: the Docker runtime's suite runs this file inside a DinD node
(tests/docker/test_docker_runtime.py), the others in pytest (test_runtime_contract.py).

The contract, in swarmkit's words (agent/exec):
- a task's states only move forward, and every move is reported once, in order;
- `start()` returns once the task is `running`; `prepare()` stops at `ready`;
- lifecycle calls are idempotent: a second start or shutdown changes nothing;
- an exit 0 is `complete`, an exit 1 `failed` with Docker's `task: non-zero exit (1)`;
- an image the node does not have is `rejected` with Docker's `No such image: <image>`;
- `shutdown()` ends a running task as `shutdown`, and nothing moves it after a terminal
  state; `close()` leaves no task behind.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from swarmlab.runtime import TaskState

WAIT_S = 60.0


@dataclass(frozen=True)
class Images:
    """The image (and spec fields) playing each part on one runtime."""

    runs: str                                   # serves until shut down
    exits: Callable[[int], dict[str, Any]]      # spec fields for a task exiting with a code
    unknown: str = "swarmlab/nosuch:reject"     # not on the node (the fake rejects `*:reject`)


@dataclass
class Recorder:
    """The statuses a controller reported through its callback."""

    seen: list = field(default_factory=list)

    def __call__(self, status) -> None:
        self.seen.append(status)

    @property
    def states(self) -> list[TaskState]:
        return [s.state for s in self.seen]


def _forward_and_reported(ctl, rec: Recorder) -> None:
    states = [s.state for s in ctl.history]
    assert states == sorted(set(states)), f"states moved back or repeated: {states}"
    assert rec.states == states[1:], f"reported {rec.states}, history {states}"


CHECKS: dict[str, Callable[..., Awaitable[None]]] = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


@check
async def start_reaches_running_through_every_state(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(images.runs), rec)
    await ctl.start()
    assert ctl.status.state == TaskState.RUNNING, ctl.status
    states = [s.state for s in ctl.history]
    assert states[0] == TaskState.ACCEPTED and states[-1] == TaskState.RUNNING, states
    for needed in (TaskState.PREPARING, TaskState.READY, TaskState.STARTING):
        assert needed in states, f"{needed.value} missing from {states}"
    _forward_and_reported(ctl, rec)
    await ctl.shutdown(1)
    await ctl.remove()


@check
async def prepare_stops_at_ready_and_start_goes_on(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(images.runs), rec)
    await ctl.prepare()
    assert ctl.status.state == TaskState.READY, ctl.status
    await ctl.prepare()  # idempotent
    assert ctl.status.state == TaskState.READY
    await ctl.start()
    await ctl.start()  # idempotent
    assert ctl.status.state == TaskState.RUNNING
    _forward_and_reported(ctl, rec)
    await ctl.shutdown(1)
    await ctl.remove()


@check
async def exit_zero_completes(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(**images.exits(0)), rec)
    await ctl.start()
    final = await asyncio.wait_for(ctl.wait(), WAIT_S)
    assert (final.state, final.exit_code) == (TaskState.COMPLETE, 0), final
    assert ctl.status == final
    _forward_and_reported(ctl, rec)
    await ctl.remove()


@check
async def exit_one_fails_with_dockers_message(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(**images.exits(1)), rec)
    await ctl.start()
    final = await asyncio.wait_for(ctl.wait(), WAIT_S)
    assert (final.state, final.err, final.exit_code) == (
        TaskState.FAILED, "task: non-zero exit (1)", 1), final
    _forward_and_reported(ctl, rec)
    await ctl.remove()


@check
async def unknown_image_is_rejected(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(images.unknown), rec)
    await ctl.start()
    assert ctl.status.state == TaskState.REJECTED, ctl.status
    assert ctl.status.err == f"No such image: {images.unknown}", ctl.status.err
    assert TaskState.RUNNING not in [s.state for s in ctl.history]
    await ctl.start()  # nothing moves a rejected task
    assert ctl.status.state == TaskState.REJECTED
    _forward_and_reported(ctl, rec)
    await ctl.remove()


@check
async def shutdown_ends_a_running_task_for_good(ex, task, images):
    rec = Recorder()
    ctl = ex.controller(task(images.runs, stop_grace_period_s=2), rec)
    await ctl.start()
    assert ctl.status.state == TaskState.RUNNING
    await ctl.shutdown(2)
    final = await asyncio.wait_for(ctl.wait(), WAIT_S)
    assert final.state == TaskState.SHUTDOWN and final.state.terminal, final
    await ctl.shutdown(2)  # idempotent
    await ctl.start()      # a terminal state is final
    assert ctl.status == final
    assert ctl.keeper.set(TaskState.RUNNING, "started") is False
    _forward_and_reported(ctl, rec)
    await ctl.remove()
    await ctl.remove()  # idempotent


@check
async def close_ends_every_task(ex, task, images):
    ctls = [ex.controller(task(images.runs, stop_grace_period_s=2)) for _ in range(3)]
    await asyncio.gather(*(c.start() for c in ctls))
    assert [c.status.state for c in ctls] == [TaskState.RUNNING] * 3
    await ex.close()
    for c in ctls:
        assert c.status.state.terminal, c.status


async def run_all(new_executor: Callable[[], Any], task, images: Images,
                  only: list[str] | None = None) -> dict[str, str]:
    """Every check (or `only` those) on a fresh executor each: name -> "ok" or the failure."""
    results = {}
    for name in only or list(CHECKS):
        ex = new_executor()
        try:
            await asyncio.wait_for(CHECKS[name](ex, task, images), 2 * WAIT_S)
            results[name] = "ok"
        except Exception as exc:  # reported per check, so one failure does not hide the rest
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            await ex.close()
    return results
