"""The mesh in front of real `swarmlab/web:1` tasks of the process runtime."""
from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import textwrap
import time
import urllib.request
import uuid

import pytest

from swarmlab.mesh import RoutingMesh
from swarmlab.mesh.discovery import ServiceDiscovery
from swarmlab.runtime import HealthCheck, ProcessExecutor, TaskRuntimeSpec, TaskState
from swarmlab.runtime.process.executor import SHM_ROOT

CHECK = HealthCheck(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                    interval_s=0.3, timeout_s=2.0, retries=2, start_period_s=5.0)
NODE_A, NODE_B = "127.0.251.1", "127.0.251.2"  # two nodes' addresses (test-only)
PUBLISHED = 20180


def arun(coro, timeout: float = 40.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return resp.read().decode()


def task_spec(node: str, slot: int, **kw) -> TaskRuntimeSpec:
    task_id = uuid.uuid4().hex[:25]
    return TaskRuntimeSpec(task_id, f"www.{slot}.{task_id}", "www", node, kw.pop("image", "swarmlab/web:1"),
                           healthcheck=kw.pop("healthcheck", CHECK), stop_grace_period_s=2, **kw)


@pytest.fixture
def executor():
    name = f"m{uuid.uuid4().hex[:8]}"
    ex = ProcessExecutor(name, node_index=151, node_address=NODE_A)
    yield ex
    for ctl in ex.controllers:
        if ctl.pid:
            try:
                os.killpg(ctl.pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(SHM_ROOT / name, ignore_errors=True)


def test_published_port_answers_on_every_node_and_survives_a_dead_task(executor):
    async def scenario():
        ctls = [executor.controller(task_spec(executor.node_name, i)) for i in (1, 2, 3)]
        await asyncio.gather(*(c.start() for c in ctls))
        assert all(c.status.state == TaskState.RUNNING for c in ctls)
        endpoints = [c.endpoint(80) for c in ctls]
        meshes = [RoutingMesh(n, addr) for n, addr in (("a", NODE_A), ("b", NODE_B))]
        for mesh in meshes:  # node b runs no replica, and still answers
            mesh.set_backends(PUBLISHED, endpoints)
            await mesh.publish(PUBLISHED)
        seen = collections.Counter()
        for i in range(12):
            body = await asyncio.to_thread(get, f"http://{(NODE_A, NODE_B)[i % 2]}:{PUBLISHED}/")
            seen[body.split()[2]] += 1
        assert seen == {f"task={c.spec.task_name}": 4 for c in ctls}

        os.kill(ctls[0].pid, signal.SIGKILL)  # a replica dies
        assert (await ctls[0].wait()).err == "task: non-zero exit (137)"
        t0 = time.monotonic()
        bodies = [await asyncio.to_thread(get, f"http://{NODE_B}:{PUBLISHED}/") for _ in range(10)]
        assert time.monotonic() - t0 < 5
        assert not any(ctls[0].spec.task_name in b for b in bodies)
        for mesh in meshes:
            await mesh.close()
        await executor.close()

    arun(scenario())


@pytest.mark.skipif(os.geteuid() != 0, reason="names reach tasks through a mount namespace")
def test_a_task_reaches_a_service_by_name_through_its_vip(executor):
    client = textwrap.dedent("""
        import urllib.request, socket
        print(socket.gethostbyname("www"))
        for _ in range(4):
            print(urllib.request.urlopen("http://www/", timeout=3).read().decode().split()[2])
        print(urllib.request.urlopen("http://web-alias/", timeout=3).read().decode().split()[0])
    """)

    async def scenario():
        webs = [executor.controller(task_spec(executor.node_name, i)) for i in (1, 2)]
        await asyncio.gather(*(c.start() for c in webs))
        disco = ServiceDiscovery(executor.node_name, 151, on_names=executor.set_names)
        entry = await disco.set_service("www", ports={80: [c.endpoint(80) for c in webs]},
                                        aliases=("web-alias",))
        ctl = executor.controller(task_spec(executor.node_name, 9, image="swarmlab/worker:1",
                                            command=("python3", "-c", client)))
        await ctl.start()
        final = await ctl.wait()
        lines = [ln.line for ln in ctl.logs()]
        assert final.state == TaskState.COMPLETE, lines
        assert lines[0] == entry.vip
        assert collections.Counter(lines[1:5]) == {f"task={c.spec.task_name}": 2 for c in webs}
        assert lines[5] == "web"
        await disco.close()
        await executor.close()

    arun(scenario())
