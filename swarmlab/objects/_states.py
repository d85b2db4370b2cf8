"""Docker's enumerations, with their JSON spelling as the value.

`TaskState` is ordered as swarmkit orders it (api/types.proto): a task only ever moves
forward along this list, which is what lets every component reason about a task from
its state alone, whatever order the reports arrive in.
"""
from __future__ import annotations

import enum


class TaskState(str, enum.Enum):
    NEW = "new"
    ALLOCATED = "allocated"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    SHUTDOWN = "shutdown"
    FAILED = "failed"
    REJECTED = "rejected"
    REMOVE = "remove"
    ORPHANED = "orphaned"

    @property
    def order(self) -> int:
        return _ORDER[self]

    def __lt__(self, other: "TaskState") -> bool:  # type: ignore[override]
        return _ORDER[self] < _ORDER[other]

    def __le__(self, other: "TaskState") -> bool:  # type: ignore[override]
        return _ORDER[self] <= _ORDER[other]

    def __gt__(self, other: "TaskState") -> bool:  # type: ignore[override]
        return _ORDER[self] > _ORDER[other]

    def __ge__(self, other: "TaskState") -> bool:  # type: ignore[override]
        return _ORDER[self] >= _ORDER[other]

    @property
    def terminal(self) -> bool:
        """Past running: the container is gone or never came (complete and after)."""
        return self >= TaskState.COMPLETE


_ORDER = {s: i for i, s in enumerate(TaskState)}


class TaskStateBackward(ValueError):
    """A report or a write tried to move a task's state backward."""


def check_forward(old: TaskState, new: TaskState, task_id: str) -> None:
    if new < old:
        raise TaskStateBackward(
            f"task {task_id}: state cannot move backward from {old.value} to {new.value}")


class NodeRole(str, enum.Enum):
    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(str, enum.Enum):
    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(str, enum.Enum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(str, enum.Enum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


class RestartCondition(str, enum.Enum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class FailureAction(str, enum.Enum):
    PAUSE = "pause"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class UpdateOrder(str, enum.Enum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class UpdateState(str, enum.Enum):
    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"


class PublishMode(str, enum.Enum):
    INGRESS = "ingress"
    HOST = "host"


class PortProtocol(str, enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class ResolutionMode(str, enum.Enum):
    VIP = "vip"
    DNSRR = "dnsrr"
