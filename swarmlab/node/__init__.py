"""The node agent: one process per node, the equivalent of a machine's dockerd in swarm mode."""
from .daemon import NodeDaemon

__all__ = ["NodeDaemon"]
