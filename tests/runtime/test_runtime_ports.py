"""Ports, limits and the hosts view of process-runtime tasks."""
from __future__ import annotations

import asyncio
import os
import socket
import textwrap
import urllib.request

import pytest
from runtime_helpers import arun

from swarmlab.runtime import HealthCheck, PortConfig, Resources, TaskState

CHECK = HealthCheck(("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                    interval_s=0.3, timeout_s=2.0, retries=2, start_period_s=5.0)


def get(addr: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{addr}:{port}/", timeout=3) as resp:
        return resp.read().decode()


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def test_unprivileged_fallback_remaps_low_ports_and_uses_the_secrets_dir(node):
    executor, spec, _ = node

    async def scenario():
        ex = executor(privileged=False, isolate=False)
        ctl = ex.controller(spec(healthcheck=CHECK))
        await ctl.start()
        assert ctl.status.state == TaskState.RUNNING
        addr, port = ctl.endpoint(80)
        assert port == 10080 and "web v1" in await asyncio.to_thread(get, addr, port)
        assert ctl._env["SWARMLAB_SECRETS_DIR"] == str(ctl.files.secrets_dir)
        await ex.close()

    arun(scenario())


def test_host_mode_port_is_published_only_where_the_task_runs(node):
    executor, spec, _ = node
    host = "127.0.252.1"
    published = free_port(host)

    async def scenario():
        ex = executor()
        ex.node_address = host
        ports = (PortConfig(80, published, publish_mode="host"),)
        ctl = ex.controller(spec(healthcheck=CHECK, ports=ports))
        await ctl.start()
        assert ctl.spec.task_name in await asyncio.to_thread(get, host, published)
        second = ex.controller(spec(healthcheck=CHECK, ports=ports))
        await second.start()  # the port is taken on this node
        assert second.status.state == TaskState.REJECTED
        assert f"Bind for {host}:{published} failed: port is already allocated" in second.status.err
        await ctl.shutdown()
        await ctl.remove()
        with pytest.raises(OSError):
            await asyncio.to_thread(get, host, published)
        await ex.close()

    arun(scenario())


def test_memory_limit_applies_to_the_task(node):
    executor, spec, _ = node
    hog = ("python3", "-c", textwrap.dedent("""
        try:
            block = bytearray(400 * 2**20)
        except MemoryError:
            print("MemoryError", flush=True)
            raise SystemExit(1)
        print("allocated", flush=True)
    """))

    async def scenario():
        ex = executor()
        limited = ex.controller(spec("swarmlab/worker:1", command=hog,
                                     resources=Resources(memory_bytes=200 * 2**20)))
        free = ex.controller(spec("swarmlab/worker:1", command=hog))
        for ctl in (limited, free):
            await ctl.start()
        assert (await limited.wait()).err == "task: non-zero exit (1)"
        assert [ln.line for ln in limited.logs()] == ["MemoryError"]
        assert (await free.wait()).state == TaskState.COMPLETE
        await ex.close()

    arun(scenario())


@pytest.mark.skipif(os.geteuid() != 0, reason="names reach tasks through a mount namespace")
def test_name_changes_reach_a_running_task(node):
    executor, spec, _ = node
    watcher = ("python3", "-c", textwrap.dedent("""
        import socket, time
        for _ in range(100):
            try:
                print(socket.gethostbyname("late-service"), flush=True)
                break
            except OSError:
                time.sleep(0.05)
    """))

    async def scenario():
        ex = executor()
        ctl = ex.controller(spec("swarmlab/worker:1", command=watcher))
        await ctl.start()
        await asyncio.sleep(0.3)
        ex.set_names({"late-service": ["127.200.1.1"]})
        final = await asyncio.wait_for(ctl.wait(), 10)
        assert final.state == TaskState.COMPLETE
        assert [ln.line for ln in ctl.logs()] == ["127.200.1.1"]
        await ex.close()

    arun(scenario())
