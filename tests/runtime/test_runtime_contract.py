"""One contract suite, every runtime: the fake one and the process one here; the Docker one
runs the same checks inside a DinD node (tests/docker/test_docker_runtime.py)."""
from __future__ import annotations

import itertools
import uuid

import pytest
from runtime_contract import CHECKS, Images, run_all
from runtime_helpers import arun

from swarmlab.runtime import TaskRuntimeSpec
from swarmlab.runtime.fake import FakeExecutor

FAKE_IMAGES = Images(runs="swarmlab/web:1",
                     exits=lambda code: {"image": "swarmlab/worker:exit0" if code == 0
                                         else "swarmlab/worker:broken"})


def process_exits(code: int) -> dict:
    return {"image": "swarmlab/worker:1", "command": ("python3", "-c", f"import sys; sys.exit({code})")}


PROCESS_IMAGES = Images(runs="swarmlab/web:1", exits=process_exits)


def fake_task(node_name: str = "fake1", env: tuple[str, ...] = ()):
    counter = itertools.count(1)

    def task(image: str = "swarmlab/web:1", **kw) -> TaskRuntimeSpec:
        slot, task_id = next(counter), uuid.uuid4().hex[:25]
        return TaskRuntimeSpec(task_id=task_id, task_name=f"www.{slot}.{task_id}",
                               service_name="www", node_name=node_name, image=image,
                               env=(*env, *kw.pop("env", ())), **kw)
    return task


@pytest.mark.parametrize("name", list(CHECKS))
def test_fake_runtime_keeps_the_contract(name):
    seen = arun(run_all(lambda: FakeExecutor("fake1", step_s=0.001), fake_task(), FAKE_IMAGES,
                        only=[name]))
    assert seen == {name: "ok"}


@pytest.mark.parametrize("name", list(CHECKS))
def test_process_runtime_keeps_the_contract(node, name):
    executor, spec, _ = node

    def task(image: str = "swarmlab/web:1", **kw) -> TaskRuntimeSpec:
        return spec(image, **kw)

    seen = arun(run_all(executor, task, PROCESS_IMAGES, only=[name]), timeout=150)
    assert seen == {name: "ok"}


def test_a_broken_runtime_is_caught():
    """The suite is not vacuous: a runtime that reports a state twice fails it."""
    class Stutter(FakeExecutor):
        def controller(self, spec, on_status=None):
            ctl = super().controller(spec, on_status)
            if on_status and not getattr(ctl, "_stutter", False):
                ctl._stutter = True
                ctl.keeper._on_status = lambda s: (on_status(s), on_status(s))
            return ctl

    seen = arun(run_all(lambda: Stutter("fake1", step_s=0.001), fake_task(), FAKE_IMAGES,
                        only=["start_reaches_running_through_every_state"]))
    assert seen["start_reaches_running_through_every_state"].startswith("AssertionError")
