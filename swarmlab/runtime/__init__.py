"""Task runtimes: the protocol the agent drives (base) and the process runtime."""
from .addresses import AddressPool, node_network, task_port, task_range, vip_range
from .base import (
    Controller, Executor, FileMount, HealthCheck, HealthState, LogLine, PortConfig, Resources,
    TaskRejected, TaskRuntimeSpec, TaskState, TaskStatus,
)
from .controller import ProcessController
from .process import ProcessExecutor

__all__ = [
    "AddressPool", "Controller", "Executor", "FileMount", "HealthCheck", "HealthState",
    "LogLine", "PortConfig", "ProcessController", "ProcessExecutor", "Resources",
    "TaskRejected", "TaskRuntimeSpec", "TaskState", "TaskStatus", "node_network", "task_port",
    "task_range", "vip_range",
]
