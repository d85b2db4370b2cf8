"""The task runtime protocol: what the agent asks of a backend, in swarmkit's words.

Theory of operation (as moby/swarmkit `agent/exec`):
- The agent hands the runtime (`Executor`) a `TaskRuntimeSpec` and gets back a
  `Controller` for that one task. It drives the controller through
  `prepare()` -> `start()` -> `wait()`, and `shutdown(grace)` / `remove()` when the
  orchestrator says so. Restarting is the orchestrator's job (a new task), never
  the runtime's.
- Every change of the task's state is reported as a `TaskStatus` with Docker's
  state names and messages (`preparing`, `starting`, `running`, `complete`,
  `failed` with `task: non-zero exit (1)`, `rejected` with `No such image: ...`).
  States only move forward (`TaskState` is the object model's ordered enum, as
  swarmkit's proto). That rule is kept once, by `TaskStatusKeeper`, as swarmkit's
  `exec.Do` keeps it for every controller: a controller does the I/O and says what
  happened; the keeper decides whether it is news.
- The spec is a small dataclass of plain values, so the runtime does not depend on
  the control plane's classes; the agent maps between them.
"""
from __future__ import annotations

import abc
import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from ..objects._states import TaskState

log = logging.getLogger("swarmlab.runtime")


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One status report, shaped like Docker's `Task.Status`."""

    state: TaskState
    message: str
    err: str = ""
    exit_code: int | None = None
    pid: int = 0
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """Docker's `HealthConfig`; durations in seconds. `test` is `["CMD", ...]`,
    `["CMD-SHELL", "cmd"]` or `["NONE"]` (Docker's defaults: 30 s, 30 s, 3, 0;
    a start interval of 0 means `interval` throughout)."""

    test: tuple[str, ...]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0
    start_interval_s: float = 0.0  # API 1.44 `StartInterval`: probe faster while starting

    @property
    def disabled(self) -> bool:
        return not self.test or self.test[0] == "NONE"


@dataclass(frozen=True, slots=True)
class FileMount:
    """A secret or config to put in the task's view, as Docker's `SecretReference`
    (`target` is `/run/secrets/<name>` for secrets, `/<name>` for configs)."""

    target: str
    data: bytes = field(repr=False)
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


@dataclass(frozen=True, slots=True)
class PortConfig:
    """Docker's `EndpointSpec.Ports` entry. `publish_mode` is `ingress` or `host`;
    ingress ports are the routing mesh's, host ports the runtime's."""

    target_port: int
    published_port: int = 0
    protocol: str = "tcp"
    publish_mode: str = "ingress"


@dataclass(frozen=True, slots=True)
class Resources:
    """Limits from `--limit-cpu` / `--limit-memory` (0 means none)."""

    nano_cpus: int = 0
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TaskRuntimeSpec:
    """Everything a runtime needs to run one task, in plain values."""

    task_id: str
    task_name: str  # <service>.<slot>.<taskid>
    service_name: str
    node_name: str
    image: str
    command: tuple[str, ...] = ()  # replaces the image's entrypoint (`--entrypoint`)
    args: tuple[str, ...] = ()  # replaces the image's default command (`IMAGE [CMD]`)
    env: tuple[str, ...] = ()  # "KEY=value", as Docker's `Env`
    ports: tuple[PortConfig, ...] = ()
    healthcheck: HealthCheck | None = None  # None: the image's own check
    stop_grace_period_s: float = 10.0
    secrets: tuple[FileMount, ...] = ()
    configs: tuple[FileMount, ...] = ()
    resources: Resources = Resources()
    hostname: str = ""  # Docker's default is the task's container id


@dataclass(frozen=True, slots=True)
class HealthState:
    """Docker's `State.Health`: `starting`, `healthy`, `unhealthy` or `none`."""

    status: str
    failing_streak: int = 0
    log: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogLine:
    timestamp: float
    stream: str  # "stdout" or "stderr"
    line: str

    def format(self, timestamps: bool = False) -> str:
        if not timestamps:
            return self.line
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.timestamp))
        frac = f"{self.timestamp % 1:.9f}"[1:]
        return f"{stamp}{frac}Z {self.line}"


class TaskRejected(Exception):
    """The task cannot run here at all (unknown image, bad spec): state `rejected`."""


StatusCallback = Callable[[TaskStatus], None]


class TaskStatusKeeper:
    """One task's status: it only moves forward, and a terminal state is final.

    Every controller reports what its I/O saw through `set`; the keeper drops what would
    move the task back, keeps the history, tells the agent (`on_status`) and marks the end
    (`done`). `begin_prepare` and `begin_start` are the lifecycle's guards: prepare runs
    once, and start only from `ready`, whatever order the agent's calls come in."""

    def __init__(self, task_name: str, on_status: StatusCallback | None = None, *,
                 pid: Callable[[], int] = lambda: 0,
                 clock: Callable[[], float] = time.time) -> None:
        self.task_name, self._on_status = task_name, on_status
        self._pid, self._clock = pid, clock
        self.status = TaskStatus(TaskState.ACCEPTED, "accepted", timestamp=clock())
        self.history: list[TaskStatus] = [self.status]
        self.done = asyncio.Event()  # a terminal status is set

    @property
    def state(self) -> TaskState:
        return self.status.state

    def set(self, state: TaskState, message: str, err: str = "",
            exit_code: int | None = None) -> bool:
        """Move to `state` if that is forward; whether it moved."""
        if self.status.state.terminal or state <= self.status.state:
            return False
        self.status = TaskStatus(state, message, err, exit_code, self._pid(), self._clock())
        self.history.append(self.status)
        if state.terminal:
            self.done.set()
        if self._on_status:
            try:
                self._on_status(self.status)
            except Exception:  # the agent's bug must not stop the task's bookkeeping
                log.exception("task %s: status callback failed", self.task_name)
        return True

    def amend(self, pid: int) -> None:
        """The same report, now with the task's PID: not a new state, so no callback."""
        if pid and not self.status.state.terminal and not self.status.pid:
            self.status = replace(self.status, pid=pid)
            self.history[-1] = self.status

    def begin_prepare(self) -> bool:
        """`preparing`, unless prepare has run already."""
        return self.status.state < TaskState.PREPARING and self.set(TaskState.PREPARING, "preparing")

    def begin_start(self) -> bool:
        """`starting`, if the task is prepared and nothing else happened to it."""
        return self.status.state == TaskState.READY and self.set(TaskState.STARTING, "starting")

    def reject(self, err: str) -> None:
        self.set(TaskState.REJECTED, "preparing", err)


class Controller(abc.ABC):
    """Runs one task. Methods are idempotent where swarmkit's are. The controller does the
    I/O; its `keeper` holds the status."""

    spec: TaskRuntimeSpec
    keeper: TaskStatusKeeper

    @property
    def status(self) -> TaskStatus:
        return self.keeper.status

    @property
    def history(self) -> list[TaskStatus]:
        return self.keeper.history

    @abc.abstractmethod
    async def prepare(self) -> None:
        """Check the image, write secrets and configs; `rejected` on failure."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the task; returns once it is `running` (healthy if it has a check)."""

    @abc.abstractmethod
    async def wait(self) -> TaskStatus:
        """Wait until the task ends; returns the terminal status."""

    @abc.abstractmethod
    async def shutdown(self, grace_s: float | None = None) -> None:
        """Stop the task: SIGTERM, then SIGKILL after the grace period."""

    @abc.abstractmethod
    async def remove(self) -> None:
        """Free everything the task held (secrets view, address)."""

    @abc.abstractmethod
    def health(self) -> HealthState: ...

    @abc.abstractmethod
    def logs(self, tail: int | None = None, since: float | None = None) -> list[LogLine]: ...

    @abc.abstractmethod
    def endpoint(self, target_port: int) -> tuple[str, int] | None:
        """Where the task serves `target_port`: (address, port), for the mesh."""


class Executor(abc.ABC):
    """A runtime backend: makes controllers, cleans up all tasks on close."""

    @abc.abstractmethod
    def controller(self, spec: TaskRuntimeSpec, on_status: StatusCallback | None = None) -> Controller: ...

    @abc.abstractmethod
    async def close(self) -> None: ...
