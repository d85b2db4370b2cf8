"""The worker's decisions: an assignment and what the node holds in, actions out. Pure.

Theory of operation (swarmkit's `agent/worker.go`, `reconcileTaskState`): for each task of
the assignment, by its desired state (`TaskState(...) <= RUNNING`: wanted) and by whether
the node holds a controller for it:

- wanted and not held: a task the dispatcher just handed over (`accepted` or before) is
  launched, started at once if desired `running` or only prepared if desired `ready`
  (the new task of a stop-first update gets ready while the old one stops); one already
  past `accepted` was started by this node before it restarted: its process is gone, so
  it is reported `failed` (`Lost`);
- desired `running` and held but not started: it may start now (`Start`);
- not wanted and held: it is shut down (`Stop`), after the converge delay if the routing
  mesh leads to it (dockerd's service binding);
- not wanted, not held and not yet past `running`: it is reported `shutdown` (`Lost`), as
  swarmkit's agent reports a task whose container is gone; sent on every heartbeat until
  the store has it, so a report lost with a leader's queue is sent again;
- held and no longer assigned: it is removed (`Remove`).

The same function drives the real worker (`worker.py`, over a process or Docker runtime)
and the simulator's agents (`inprocess.py`, over the fake runtime). The wire translations
both ways (`runtime_spec`, `status_json`) live here too: they are pure as well.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Mapping, Union

from ..objects import format_time
from ..runtime.base import (
    FileMount, HealthCheck, PortConfig, TaskRuntimeSpec, TaskState, TaskStatus,
)

NS = 1_000_000_000
LOST = "task: the node restarted and the task's process is gone"


@dataclass(frozen=True, slots=True)
class Held:
    """What the node holds of one task: its controller's state, and whether it may start."""

    state: TaskState
    started: bool = True


@dataclass(frozen=True, slots=True)
class Launch:
    spec: TaskRuntimeSpec
    start: bool  # start once prepared (desired running), or only prepare (desired ready)


@dataclass(frozen=True, slots=True)
class Start:
    task_id: str


@dataclass(frozen=True, slots=True)
class Stop:
    task_id: str
    converge: bool = False  # the mesh leads to it: wait the converge delay if it runs


@dataclass(frozen=True, slots=True)
class Remove:
    task_id: str


@dataclass(frozen=True, slots=True)
class Lost:
    """A status the node reports for a task it does not hold."""

    task_id: str
    state: TaskState
    message: str
    err: str = ""

    def to_json(self, timestamp_ns: int) -> dict[str, str]:
        """Docker's `Task.Status`, stamped when the node found the task lost (the caller keeps
        the first stamp: a status that changes on every heartbeat would be a write each)."""
        doc = {"Timestamp": format_time(timestamp_ns), "State": self.state.value,
               "Message": self.message}
        if self.err:
            doc["Err"] = self.err
        return doc


Action = Union[Launch, Start, Stop, Remove, Lost]


def plan(assignment: Mapping[str, Any], held: Mapping[str, Held], node_name: str) -> list[Action]:
    """What the node must do to follow `assignment` (the dispatcher's answer)."""
    secrets = {s["ID"]: s for s in assignment.get("Secrets") or []}
    configs = {c["ID"]: c for c in assignment.get("Configs") or []}
    assigned = {t["ID"]: t for t in assignment.get("Tasks") or []}
    published = {s.get("Name") for s in (assignment.get("Mesh") or {}).get("Services") or []
                 if s.get("Ports")}
    actions: list[Action] = []
    for tid, t in assigned.items():
        desired = TaskState(t.get("DesiredState", "running"))
        wanted = desired <= TaskState.RUNNING
        now = held.get(tid)
        if wanted and now is None:
            state = _state(t) or TaskState.NEW
            if state <= TaskState.ACCEPTED:
                actions.append(Launch(runtime_spec(t, node_name, secrets, configs),
                                      start=desired == TaskState.RUNNING))
            elif state <= TaskState.RUNNING:
                actions.append(Lost(tid, TaskState.FAILED, LOST, LOST))
        elif desired == TaskState.RUNNING and now is not None:
            if not now.started:
                actions.append(Start(tid))
        elif not wanted and now is not None:
            actions.append(Stop(tid, converge=_service_binding(t, published)))
        elif not wanted and (state := _state(t)) is not None and state <= TaskState.RUNNING:
            actions.append(Lost(tid, TaskState.SHUTDOWN, "shutdown"))
    actions += [Remove(tid) for tid in held if tid not in assigned]
    return actions


def _state(task: Mapping[str, Any]) -> TaskState | None:
    state = task.get("Status", {}).get("State")
    return TaskState(state) if state else None


def _service_name(task: Mapping[str, Any]) -> str:
    return task.get("ServiceAnnotations", {}).get("Name") or task.get("_ServiceName", "")


def _service_binding(task: Mapping[str, Any], published: set[str]) -> bool:
    """Whether the routing mesh leads to this task (dockerd's `hasServiceBinding`): its
    service publishes ports now (the mesh table says so, even if the task predates them),
    or it is attached to a network."""
    return _service_name(task) in published or bool(task.get("Spec", {}).get("Networks"))


# -- the wire, both ways ------------------------------------------------------------------
def runtime_spec(task: Mapping[str, Any], node_name: str, secrets: Mapping[str, dict],
                 configs: Mapping[str, dict]) -> TaskRuntimeSpec:
    """Engine-API task JSON -> what the runtime needs (plain values only)."""
    cs = task.get("Spec", {}).get("ContainerSpec", {})
    service = _service_name(task)
    slot = task.get("Slot") or task.get("NodeID", "")
    return TaskRuntimeSpec(
        task_id=task["ID"], task_name=f"{service}.{slot}.{task['ID']}", service_name=service,
        node_name=node_name, image=cs.get("Image", ""), command=tuple(cs.get("Command") or ()),
        args=tuple(cs.get("Args") or ()), env=tuple(cs.get("Env") or ()), ports=_ports(task),
        healthcheck=_healthcheck(cs.get("Healthcheck")),
        stop_grace_period_s=(cs.get("StopGracePeriod") or 10 * NS) / NS,
        secrets=_mounts(cs.get("Secrets"), secrets, "Secret", lambda name: name),
        configs=_mounts(cs.get("Configs"), configs, "Config", lambda name: "/" + name),
        hostname=cs.get("Hostname", ""))


def _healthcheck(hc: Mapping[str, Any] | None) -> HealthCheck | None:
    if not hc or not hc.get("Test"):
        return None  # the image's own check
    return HealthCheck(tuple(hc["Test"]), interval_s=hc.get("Interval", 30 * NS) / NS,
                       timeout_s=hc.get("Timeout", 30 * NS) / NS, retries=hc.get("Retries", 3),
                       start_period_s=hc.get("StartPeriod", 0) / NS)


def _mounts(refs: list[dict] | None, objects: Mapping[str, dict], kind: str,
            default_target) -> tuple[FileMount, ...]:
    """A task's secret or config references, with the data the assignment carries (a
    reference to an object the node was not given is left out)."""
    out = []
    for ref in refs or []:
        obj = objects.get(ref.get(f"{kind}ID", ""))
        if obj is None:
            continue
        f = ref.get("File") or {}
        out.append(FileMount(f.get("Name") or default_target(ref.get(f"{kind}Name", "")),
                             base64.b64decode(obj["Spec"].get("Data", "")),
                             int(f.get("UID", "0") or 0), int(f.get("GID", "0") or 0),
                             f.get("Mode", 0o444)))
    return tuple(out)


def _ports(task: Mapping[str, Any]) -> tuple[PortConfig, ...]:
    ports = task.get("Endpoint", {}).get("Spec", {}).get("Ports") or task.get("_Ports") or []
    return tuple(PortConfig(p.get("TargetPort", 0), p.get("PublishedPort", 0),
                            p.get("Protocol", "tcp"), p.get("PublishMode", "ingress"))
                 for p in ports)


def status_json(st: TaskStatus) -> dict[str, Any]:
    """A runtime status as the dispatcher reads it (Docker's `Task.Status`)."""
    doc: dict[str, Any] = {"Timestamp": format_time(int(st.timestamp * NS)),
                           "State": st.state.value, "Message": st.message}
    if st.err:
        doc["Err"] = st.err
    cstat: dict[str, Any] = {}
    if st.pid:
        cstat["PID"] = st.pid
    if st.exit_code:
        cstat["ExitCode"] = st.exit_code
    if cstat:
        doc["ContainerStatus"] = cstat
    return doc
