"""The process runtime: each task a local process with its own 127.x address."""
from .controller import ProcessController
from .executor import ProcessExecutor

__all__ = ["ProcessController", "ProcessExecutor"]
