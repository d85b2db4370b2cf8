"""The process runtime's controller: one task as a child process of the agent.

Theory of operation (docs/runtime.md):
- `prepare()` looks the image up in the lab catalog (unknown: `rejected`,
  `No such image: ...`), gives the task its own loopback address, writes its
  secrets and configs under a tmpfs directory and opens its host-mode ports.
- `start()` runs `swarmlab.runtime.launch`, which sets the task's view up and
  execs the image's program with the task's environment, in a new process group;
  stdout and stderr go to a bounded `LogBuffer`. With a health check the task
  stays `starting` until the first healthy probe, as swarmkit's container
  controller does, and an `unhealthy` verdict fails it.
- Stopping sends SIGTERM to the process group, then SIGKILL after the grace
  period. Every process group still alive is killed when the executor closes or
  the interpreter exits, and `PR_SET_PDEATHSIG` kills tasks if the agent dies:
  no orphans.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Protocol

from ...net.addresses import AddressPool, task_port
from ...net.forward import Forwarder
from ...workloads.catalog import ImageInfo
from .. import health as hc
from ..base import (
    Controller, HealthCheck, HealthState, LogLine, StatusCallback, TaskRejected, TaskRuntimeSpec,
    TaskState, TaskStatus, TaskStatusKeeper,
)
from ..files import TaskFiles
from ..images import builtin_http_check, image_program, resolve_image
from ..logs import LogBuffer, pump

# run by path with -S: it needs only the stdlib, so skip site and our package
_LAUNCHER = str(Path(__file__).parent.parent / "launch.py")
_LIVE_GROUPS: set[int] = set()  # every task process group not yet reaped


@atexit.register
def _kill_live_groups() -> None:
    for pgid in list(_LIVE_GROUPS):
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode  # killed by a signal


class TaskHost(Protocol):
    """What a task's controller needs from its node's executor (the node's side)."""

    @property
    def root(self) -> Path: ...
    @property
    def privileged(self) -> bool: ...
    @property
    def isolate(self) -> bool: ...
    @property
    def node_address(self) -> str: ...
    @property
    def addresses(self) -> AddressPool: ...
    def task_env(self, ctl: "ProcessController", info: ImageInfo) -> dict[str, str]: ...
    def write_hosts(self, ctl: "ProcessController") -> None: ...
    def forget(self, ctl: "ProcessController") -> None: ...


class ProcessController(Controller):
    def __init__(self, executor: TaskHost, spec: TaskRuntimeSpec,
                 on_status: StatusCallback | None) -> None:
        self.spec, self._executor = spec, executor
        self.keeper = TaskStatusKeeper(spec.task_name, on_status, pid=lambda: self.pid)
        self.address = ""
        self.hostname = spec.hostname or spec.task_id[:12]  # Docker: the container id
        self.files = TaskFiles(executor.root / spec.task_id)
        self.log_buffer = LogBuffer()
        self._argv: list[str] = []
        self._env: dict[str, str] = {}
        self._port = 0  # what the image serves (its EXPOSE), after remapping
        self._check: HealthCheck | None = None
        self._policy: hc.HealthPolicy | None = None
        self._forwarders: list[Forwarder] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task] = []
        self._exited = asyncio.Event()  # the process is gone (after a terminal status)
        self._healthy = asyncio.Event()
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------
    async def prepare(self) -> None:
        if not self.keeper.begin_prepare():
            return
        try:
            info = resolve_image(self.spec.image)
            self._argv, self._check, port = image_program(info, self.spec)
            self._port = task_port(port, self._executor.privileged) if port else 0
            self.address = self._executor.addresses.allocate(self.spec.task_id)
            self._env = self._executor.task_env(self, info)
            self._check_executable()
            self.files.write(self.spec.secrets, self.spec.configs)
            self._executor.write_hosts(self)
            await self._open_host_ports()
        except (TaskRejected, OSError) as exc:
            await self._reject(str(exc))
            return
        self.keeper.set(TaskState.READY, "prepared")

    def _check_executable(self) -> None:
        if shutil.which(self._argv[0], path=self._env.get("PATH")) is None:
            raise TaskRejected(
                f'starting container failed: exec: "{self._argv[0]}": executable file not found in $PATH')

    async def _open_host_ports(self) -> None:
        for port in self.spec.ports:
            if port.publish_mode != "host":
                continue
            fwd = Forwarder(self._executor.node_address, port.published_port,
                            name=f"host:{port.published_port}:{self.spec.task_name}")
            fwd.set_backends([(self.address, task_port(port.target_port, self._executor.privileged))])
            try:
                await fwd.start()
            except OSError as exc:
                raise TaskRejected(f"Bind for {self._executor.node_address}:{port.published_port} "
                                   f"failed: port is already allocated ({exc.strerror})") from exc
            self._forwarders.append(fwd)

    async def _reject(self, err: str) -> None:
        self.keeper.reject(err)
        await self._release()

    async def start(self) -> None:
        """Returns once the task is running (healthy, if it has a check) or has ended."""
        await self.prepare()
        if not self.keeper.begin_start():
            return
        try:
            self._proc = await self._spawn()
        except OSError as exc:
            await self._reject(f"starting container failed: {exc}")
            return
        _LIVE_GROUPS.add(self._proc.pid)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watch(self._proc)))
        if self._stopping:  # shutdown() came while we were spawning
            await self._terminate(0)
            return
        if self._check is None or self._check.disabled:
            self.keeper.set(TaskState.RUNNING, "started")
            return
        self._policy = hc.HealthPolicy(self._check, loop.time())
        self._tasks.append(loop.create_task(self._health_loop()))
        waiters = [loop.create_task(self._healthy.wait()), loop.create_task(self.keeper.done.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _launch(self, argv: list[str]) -> tuple[list[str], dict[str, str]]:
        """argv and env that run `argv` through launch.py, in the task's view."""
        plan = {"argv": argv, "parent": os.getpid(),
                "memory_bytes": self.spec.resources.memory_bytes,
                "isolate": self._executor.isolate, "hostname": self.hostname,
                "hosts": str(self.hosts_path), "secrets": str(self.files.secrets_dir)}
        return [sys.executable, "-S", _LAUNCHER], dict(self._env, SWARMLAB_LAUNCH=json.dumps(plan))

    async def _spawn(self) -> asyncio.subprocess.Process:
        argv, env = self._launch(self._argv)
        return await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(self.files.root),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)

    @property
    def hosts_path(self) -> Path:
        return self.files.root / "etc" / "hosts"

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        """Collect output until the task exits, then report how it ended."""
        readers = [asyncio.ensure_future(pump(proc.stdout, "stdout", self.log_buffer)),
                   asyncio.ensure_future(pump(proc.stderr, "stderr", self.log_buffer))]
        code = _exit_code(await proc.wait())
        _signal_group(proc.pid, signal.SIGKILL)  # whatever the task left behind
        _LIVE_GROUPS.discard(proc.pid)
        await asyncio.wait(readers, timeout=1.0)
        for reader in readers:
            reader.cancel()
        self.log_buffer.close()
        self.files.drop(self.spec.secrets, self.spec.configs)
        if self._stopping:
            self.keeper.set(TaskState.SHUTDOWN, "shutdown", exit_code=code)
        elif code == 0:
            self.keeper.set(TaskState.COMPLETE, "finished", exit_code=0)
        else:
            self.keeper.set(TaskState.FAILED, "started", f"task: non-zero exit ({code})", code)
        self._exited.set()

    async def _health_loop(self) -> None:
        assert self._check is not None and self._policy is not None
        loop = asyncio.get_running_loop()
        while not self.keeper.done.is_set():
            await asyncio.sleep(self._policy.next_delay(loop.time()))
            try:
                ok, out = await self._probe()
            except Exception as exc:  # noqa: BLE001 - a probe that breaks is a failed probe
                ok, out = False, f"health check error: {exc}"
            verdict = self._policy.record(loop.time(), ok, out)
            if verdict == hc.HEALTHY:
                self._healthy.set()
                self.keeper.set(TaskState.RUNNING, "started")
            elif verdict == hc.UNHEALTHY:
                self.keeper.set(TaskState.FAILED, "started", "task: unhealthy container")
                await self._terminate(self.spec.stop_grace_period_s)
                return

    async def _probe(self) -> tuple[bool, str]:
        assert self._check is not None
        path = builtin_http_check(self._check.test)
        if path is not None and self._port:
            return await hc.http_probe(self.address, self._port, path, self._check.timeout_s)
        # in the task's view, as `docker exec` runs a check inside the container
        argv, env = self._launch(hc.probe_argv(self._check.test))
        return await hc.probe(argv, env, str(self.files.root), self._check.timeout_s)

    async def wait(self) -> TaskStatus:
        """The terminal status, once the task's process is gone too."""
        await self.keeper.done.wait()
        if self._proc is not None:
            await self._exited.wait()
        return self.status

    async def shutdown(self, grace_s: float | None = None) -> None:
        grace = self.spec.stop_grace_period_s if grace_s is None else grace_s
        self._stopping = True
        if self._proc is None:
            self.files.drop(self.spec.secrets, self.spec.configs)
            self.keeper.set(TaskState.SHUTDOWN, "shutdown")
            return
        await self._terminate(grace)

    async def _terminate(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after the grace period, as `docker stop`."""
        proc = self._proc
        if proc is None or self._exited.is_set():
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self._exited.wait()), grace_s)
        except asyncio.TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await self._exited.wait()

    async def remove(self) -> None:
        if self._proc is not None and not self._exited.is_set():
            await self.shutdown(0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._release()
        self._executor.forget(self)

    async def _release(self) -> None:
        for fwd in self._forwarders:
            await fwd.close()
        self._forwarders.clear()
        self.files.remove()
        self._executor.addresses.release(self.spec.task_id)

    # -- inspection -----------------------------------------------------------
    def health(self) -> HealthState:
        if self._policy is None:
            return HealthState(hc.NONE)
        return self._policy.state()

    def logs(self, tail: int | None = None, since: float | None = None) -> list[LogLine]:
        return self.log_buffer.lines(tail, since)

    def endpoint(self, target_port: int) -> tuple[str, int] | None:
        if not self.address:
            return None
        return self.address, task_port(target_port, self._executor.privileged)

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0
