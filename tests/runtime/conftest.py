"""Every runtime test runs on its own node name, node number and tmpfs directory,
and must leave no process behind."""
from __future__ import annotations

import itertools
import os
import shutil
import uuid

import pytest
from runtime_helpers import settle

from swarmlab.runtime import ProcessExecutor, TaskRuntimeSpec
from swarmlab.runtime.process.executor import SHM_ROOT

_INDEX = itertools.count(140)  # high node numbers: no clash with labs on 127.10x


@pytest.fixture
def node():
    """A fresh node: (executor factory, spec factory, marker)."""
    name = f"t{uuid.uuid4().hex[:8]}"
    index = next(_INDEX) % 155
    marker = f"SWARMLAB_TEST_MARK={name}"
    made = []

    def executor(**kw) -> ProcessExecutor:
        ex = ProcessExecutor(name, node_index=index, node_address="127.0.0.1", **kw)
        made.append(ex)
        return ex

    counter = itertools.count(1)

    def spec(image: str = "swarmlab/web:1", service: str = "www", **kw) -> TaskRuntimeSpec:
        slot = next(counter)
        task_id = uuid.uuid4().hex[:25]
        env = (marker, *kw.pop("env", ()))
        return TaskRuntimeSpec(task_id=task_id, task_name=f"{service}.{slot}.{task_id}",
                               service_name=service, node_name=name, image=image, env=env,
                               **kw)

    yield executor, spec, marker
    for ex in made:  # a failed test must not leave tasks running
        for ctl in ex.controllers:
            if ctl.pid:
                try:
                    os.killpg(ctl.pid, 9)
                except OSError:
                    pass
    shutil.rmtree(SHM_ROOT / name, ignore_errors=True)
    assert settle(marker) == []
