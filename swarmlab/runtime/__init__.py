"""Task runtimes: the protocol the agent drives (base) and the process runtime."""
from .base import (
    Controller, Executor, FileMount, HealthCheck, HealthState, LogLine, PortConfig, Resources,
    TaskRejected, TaskRuntimeSpec, TaskState, TaskStatus,
)
from .process import ProcessController, ProcessExecutor

__all__ = [
    "Controller", "Executor", "FileMount", "HealthCheck", "HealthState",
    "LogLine", "PortConfig", "ProcessController", "ProcessExecutor", "Resources",
    "TaskRejected", "TaskRuntimeSpec", "TaskState", "TaskStatus",
]
