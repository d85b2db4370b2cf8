"""Task runtimes: the protocol the agent drives (base) and the process runtime.

`TaskState` here is the object model's ordered enum (re-exported: one word for one thing).
"""
from .base import (
    Controller, Executor, FileMount, HealthCheck, HealthState, LogLine, PortConfig, Resources,
    TaskRejected, TaskRuntimeSpec, TaskState, TaskStatus, TaskStatusKeeper,
)
from .process import ProcessController, ProcessExecutor

__all__ = [
    "Controller", "Executor", "FileMount", "HealthCheck", "HealthState",
    "LogLine", "PortConfig", "ProcessController", "ProcessExecutor", "Resources",
    "TaskRejected", "TaskRuntimeSpec", "TaskState", "TaskStatus", "TaskStatusKeeper",
]
