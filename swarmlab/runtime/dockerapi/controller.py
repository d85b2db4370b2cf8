"""The Docker runtime's controller: one task as one container of the node's dockerd.

Theory of operation (as dockerd's swarm executor, `daemon/cluster/executor/container`):
- `prepare()` checks the image is on the node (never pulls: an unknown image is
  `rejected`, `No such image: ...`), gives the task an address on the node's task
  network where that is chosen beforehand (not on dockerd's default bridge: there
  `start()` reads it), writes its secrets, configs and hosts file to the executor's
  tmpfs and creates the container (named and labelled as Swarm does, restart policy
  `no`: restarting is the orchestrator's job).
- `start()` starts it; with a health check (the service's, or the image's) the
  task stays `starting` until Docker reports it healthy, and an unhealthy verdict
  fails it (`task: unhealthy container`) and stops it with its grace period.
- The daemon's `die` and `health_status` events reach the controller through the
  executor's one event stream; the exit code gives `complete` or `failed`
  (`task: non-zero exit (N)`). Logs are followed as they come (timestamps from
  Docker), so `logs()` never waits for the daemon.
- `shutdown(grace)` is `docker stop -t grace` (SIGTERM, SIGKILL after the grace);
  `remove()` deletes the container and the task's files.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

import docker

from ...net.addresses import AddressPool
from ..base import (
    Controller, HealthCheck, HealthState, LogLine, StatusCallback, TaskRejected, TaskRuntimeSpec,
    TaskState, TaskStatus, TaskStatusKeeper,
)
from ..files import TaskFiles
from ..health import probe_argv
from ..logs import LogBuffer
from .spec import (
    container_env, container_labels, exit_status, file_mounts, has_healthcheck,
    healthcheck_config, merged_healthcheck, no_such_image, parse_log_frame, stop_timeout_s,
)

log = logging.getLogger("swarmlab.runtime.dockerapi.executor")
LOG_DRAIN_S = 2.0   # how long wait() lets the log streams catch up with an exit
STOP_SLACK_S = 10.0  # beyond the grace period, for a daemon that is slow to report
DIE_EVENT_S = 1.0    # after `stop` returned, how long the `die` event may take to come


def explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _validate(check: HealthCheck | None) -> None:
    """Refuse what Docker would only fail at the first probe."""
    if check is None or check.disabled:
        return
    try:
        argv = probe_argv(check.test)
    except ValueError as exc:
        raise TaskRejected(f"invalid health check: {exc}") from None
    if not argv or not argv[-1]:
        raise TaskRejected(f"invalid health check: empty test {list(check.test)}")


class ContainerHost(Protocol):
    """What a task's controller needs from its node's executor: the daemon (`client`,
    reached through `call` in the executor's threads), the task network and the files."""

    client: Any
    @property
    def root(self) -> Path: ...
    @property
    def node_id(self) -> str: ...
    @property
    def node_address(self) -> str: ...
    @property
    def network(self) -> str: ...
    @property
    def own_network(self) -> bool: ...
    @property
    def addresses(self) -> AddressPool: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    async def ready(self) -> None: ...
    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...
    def watch_id(self, container_id: str, ctl: "DockerController") -> None: ...
    def write_hosts(self, ctl: "DockerController") -> None: ...
    def forget(self, ctl: "DockerController") -> None: ...


class DockerController(Controller):
    def __init__(self, executor: ContainerHost, spec: TaskRuntimeSpec,
                 on_status: StatusCallback | None) -> None:
        self.spec, self._executor = spec, executor
        self.keeper = TaskStatusKeeper(spec.task_name, on_status, pid=lambda: self.pid)
        self.address = ""
        self.hostname = spec.hostname
        self.container_id = ""
        self.files = TaskFiles(executor.root / spec.task_id)
        self.log_buffer = LogBuffer()
        self.pid = 0
        self._has_check = False
        self._health = HealthState("none")
        self._started = False
        self._stopping = False
        self._pending_exit: int | None = None  # a `die` seen before start() returned
        self._lock = asyncio.Lock()            # start and stop never overlap
        self._exited = asyncio.Event()         # the container has stopped
        self._healthy = asyncio.Event()
        self._streams_open = 0
        self._streams_done = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    @property
    def hosts_path(self):
        return self.files.root / "etc" / "hosts"

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- prepare: image, address, files, container --------------------------------------
    async def prepare(self) -> None:
        if not self.keeper.begin_prepare():
            return
        try:
            _validate(self.spec.healthcheck)
            await self._executor.ready()
            if self._executor.own_network:
                self.address = self._executor.addresses.allocate(self.spec.task_id)
            self.files.write(self.spec.secrets, self.spec.configs)
            self._executor.write_hosts(self)
            self._has_check = await self._executor.call(self._create)
        except Exception as exc:  # noqa: BLE001 - any failure here rejects the task, as Swarm's
            await self._reject(explain(exc))
            return
        self.hostname = self.spec.hostname or self.container_id[:12]  # Docker's default
        self._executor.write_hosts(self)
        self.keeper.set(TaskState.READY, "prepared")

    def _create(self) -> bool:
        """Create the container (in a worker thread); whether it runs a health check."""
        api, spec, ex = self._executor.client.api, self.spec, self._executor
        try:
            image = api.inspect_image(spec.image)
        except docker.errors.ImageNotFound:
            raise TaskRejected(no_such_image(spec.image)) from None
        own_check = healthcheck_config(spec.healthcheck)
        host_ports = [p for p in spec.ports if p.publish_mode == "host"]
        networking = api.create_networking_config(
            {ex.network: api.create_endpoint_config(ipv4_address=self.address)}) \
            if ex.own_network else None
        created = api.create_container(
            spec.image, name=spec.task_name, hostname=spec.hostname or None,
            entrypoint=list(spec.command) or None, command=list(spec.args) or None,
            environment=container_env(spec), labels=container_labels(spec, ex.node_id),
            healthcheck=own_check,
            stop_timeout=stop_timeout_s(spec.stop_grace_period_s),
            ports=[(p.target_port, p.protocol) for p in host_ports] or None,
            host_config=self._host_config(api, host_ports), networking_config=networking,
            detach=True)
        self.container_id = created["Id"]   # at once: a failure below must still remove it
        ex.watch_id(self.container_id, self)
        # Docker's merge, rather than one more inspect of a busy daemon per task
        return has_healthcheck(merged_healthcheck(own_check, (image.get("Config") or {}).get("Healthcheck")))

    def _host_config(self, api: Any, host_ports: list) -> dict:
        spec, ex = self.spec, self._executor
        mounts = [docker.types.Mount(target, str(self.files.root / rel), type="bind", read_only=True)
                  for rel, target in file_mounts(spec)]
        mounts.append(docker.types.Mount("/etc/hosts", str(self.hosts_path), type="bind",
                                         read_only=True))
        bindings = {f"{p.target_port}/{p.protocol}": (ex.node_address, p.published_port)
                    for p in host_ports}
        return api.create_host_config(
            network_mode=ex.network, restart_policy={"Name": "no"}, mounts=mounts,
            port_bindings=bindings or None,
            nano_cpus=spec.resources.nano_cpus or None,
            mem_limit=spec.resources.memory_bytes or None)

    async def _reject(self, err: str) -> None:
        self.keeper.reject(err)
        await self._release()

    # -- start: run, follow logs, wait for healthy ---------------------------------------
    async def start(self) -> None:
        """Returns once the task is running (healthy, if it has a check) or has ended."""
        await self.prepare()
        if not self.keeper.begin_start():
            return
        async with self._lock:
            if self._stopping:  # shutdown() came first: never start
                self.keeper.set(TaskState.SHUTDOWN, "shutdown")
                return
            try:
                await self._executor.call(self._executor.client.api.start, self.container_id)
            except Exception as exc:  # noqa: BLE001 - the daemon's refusal, or no daemon
                await self._reject(f"starting container failed: {explain(exc)}")
                return
            self._started = True
        if self._pending_exit is not None:
            self._on_exit(self._pending_exit)
        # Running as soon as the daemon says started, as Swarm's executor; the logs (all
        # of them: `follow` starts at the beginning) and the PID follow without delaying
        # it. On the default bridge the address comes first: the mesh needs it.
        self._follow_logs()
        if self._executor.own_network:
            self._spawn(self._read_started())
        else:
            await self._read_started()
            if not self.address and not self._exited.is_set() and not self.status.state.terminal:
                # dockerd did not say where it runs: no mesh could reach it
                self.keeper.set(TaskState.FAILED, "started", "task: no address on the default bridge")
                self._spawn(self._stop(self.spec.stop_grace_period_s))
                return
        if not self._has_check:
            if not self._stopping:  # a task being shut down is never reported running
                self.keeper.set(TaskState.RUNNING, "started")
            return
        self._health = HealthState("starting")
        waiters = [asyncio.ensure_future(self._healthy.wait()),
                   asyncio.ensure_future(self.keeper.done.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _read_started(self) -> None:
        """The started container's PID, and its address where dockerd chose it."""
        try:
            info = await self._executor.call(self._executor.client.api.inspect_container,
                                             self.container_id)
        except docker.errors.APIError:
            return
        state = info["State"]
        if self._exited.is_set() or not state.get("Running"):
            return
        if not self.address:
            net = (info["NetworkSettings"].get("Networks") or {}).get(self._executor.network) or {}
            self.address = net.get("IPAddress", "")
            if self.files.root.is_dir():  # (not removed meanwhile)
                self._executor.write_hosts(self)  # its own line, as Docker writes it
        self.pid = state.get("Pid") or 0
        # the same report, now with the container's PID (ContainerStatus.PID): the agent's
        # next exchange carries it
        self.keeper.amend(self.pid)

    # -- what the daemon says ------------------------------------------------------------
    def on_event(self, action: str, attrs: dict) -> None:
        """An event for our container (in the loop, from the executor's stream)."""
        if action == "die":
            code = int(attrs.get("exitCode", 0) or 0)
            if self._started:
                self._on_exit(code)
            else:
                self._pending_exit = code
        elif action.startswith("health_status"):
            self._on_health(action.split(":", 1)[1].strip())
        elif action == "resync":
            self._spawn(self._sync())

    def _on_exit(self, code: int) -> None:
        if self._exited.is_set():
            return
        self.pid = 0
        self.files.drop(self.spec.secrets, self.spec.configs)
        self.keeper.set(*exit_status(code, self._stopping), exit_code=code)
        self._exited.set()

    def _on_health(self, verdict: str) -> None:
        self._health = HealthState(verdict, self._health.failing_streak, self._health.log)
        self._spawn(self._refresh_health())
        if verdict == "healthy":
            self._healthy.set()
            if not self._stopping:
                self.keeper.set(TaskState.RUNNING, "started")
        elif verdict == "unhealthy" and not self.status.state.terminal:
            self.keeper.set(TaskState.FAILED, "started", "task: unhealthy container")
            self._spawn(self._stop(self.spec.stop_grace_period_s))

    async def _refresh_health(self) -> None:
        """Docker's `State.Health` (streak, last outputs) for `health()`."""
        try:
            info = await self._executor.call(self._executor.client.api.inspect_container,
                                             self.container_id)
        except docker.errors.APIError:
            return
        h = info["State"].get("Health")
        if h:
            outputs = tuple((e.get("Output") or "").strip() for e in h.get("Log") or ())
            self._health = HealthState(h.get("Status", "none"), h.get("FailingStreak", 0), outputs)

    async def _sync(self) -> None:
        """After a gap in the event stream: read the container's state instead."""
        if not self.container_id or not self._started or self._exited.is_set():
            return
        try:
            state = (await self._executor.call(self._executor.client.api.inspect_container,
                                               self.container_id))["State"]
        except docker.errors.NotFound:
            self._on_exit(137)
            return
        except docker.errors.APIError:
            return
        if state.get("Health"):
            self._on_health(state["Health"]["Status"])
        if not state.get("Running"):
            self._on_exit(state.get("ExitCode", 0))

    # -- logs ----------------------------------------------------------------------------
    def _follow_logs(self) -> None:
        """One thread per stream: Docker's logs API only tells stdout from stderr when
        asked for one of them."""
        self._streams_open = 2
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._pump, args=(name,), daemon=True,
                             name=f"logs-{self.spec.task_name}-{name}").start()

    def _pump(self, name: str) -> None:
        loop, api = self._executor.loop, self._executor.client.api
        try:
            for frame in api.logs(self.container_id, stdout=name == "stdout",
                                  stderr=name == "stderr", stream=True, follow=True,
                                  timestamps=True):
                lines = parse_log_frame(frame)
                loop.call_soon_threadsafe(self._append_lines, name, lines)
        except Exception as exc:  # noqa: BLE001 - removed under us: the stream just ends
            log.debug("task %s: %s stream ended: %s", self.spec.task_name, name, exc)
        finally:
            try:
                loop.call_soon_threadsafe(self._stream_ended)
            except RuntimeError:  # the loop is gone
                pass

    def _append_lines(self, stream: str, lines: list[tuple[float, str]]) -> None:
        for when, text in lines:
            self.log_buffer.append(stream, text, when)

    def _stream_ended(self) -> None:
        self._streams_open -= 1
        if self._streams_open <= 0:
            self._streams_done.set()

    # -- wait, stop, remove --------------------------------------------------------------
    async def wait(self) -> TaskStatus:
        """The terminal status, once the container has stopped and its output is read."""
        await self.keeper.done.wait()
        if self._started:
            await self._exited.wait()
            try:
                await asyncio.wait_for(self._streams_done.wait(), LOG_DRAIN_S)
            except asyncio.TimeoutError:
                pass
            self.log_buffer.close()
        return self.status

    async def shutdown(self, grace_s: float | None = None) -> None:
        grace = self.spec.stop_grace_period_s if grace_s is None else grace_s
        self._stopping = True
        async with self._lock:
            started = self._started
        if not started:
            self.keeper.set(TaskState.SHUTDOWN, "shutdown")
            return
        await self._stop(grace)

    async def _stop(self, grace_s: float) -> None:
        """`docker stop -t grace`: SIGTERM, SIGKILL after the grace period."""
        if self._exited.is_set():
            return
        try:
            await self._executor.call(self._executor.client.api.stop, self.container_id,
                                      timeout=stop_timeout_s(grace_s))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("task %s: stop failed: %s", self.spec.task_name, explain(exc))
        try:    # the `die` event has come by now, as a rule: no inspect needed
            await asyncio.wait_for(asyncio.shield(self._exited.wait()), DIE_EVENT_S)
            return
        except asyncio.TimeoutError:
            await self._sync()  # still on its way, or the stream had a gap
        try:
            await asyncio.wait_for(self._exited.wait(), grace_s + STOP_SLACK_S)
        except asyncio.TimeoutError:
            log.warning("task %s: container did not stop", self.spec.task_name)

    async def remove(self) -> None:
        if self._started and not self._exited.is_set():
            await self.shutdown(0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._release()
        self._executor.forget(self)

    async def _release(self) -> None:
        if self.container_id:
            try:
                await self._executor.call(self._executor.client.api.remove_container,
                                          self.container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass
        self.files.remove()
        self._executor.addresses.release(self.spec.task_id)  # (none on the default bridge)

    # -- inspection ----------------------------------------------------------------------
    def health(self) -> HealthState:
        return self._health

    def logs(self, tail: int | None = None, since: float | None = None) -> list[LogLine]:
        """In Docker's time order: stdout and stderr come on two streams, so their
        lines arrive interleaved by chance; the daemon's timestamps say the order."""
        lines = sorted(self.log_buffer.lines(None, since), key=lambda ln: ln.timestamp)
        return lines[len(lines) - tail:] if tail is not None and 0 <= tail < len(lines) else lines

    def endpoint(self, target_port: int) -> tuple[str, int] | None:
        if not self.address:
            return None
        return self.address, target_port
