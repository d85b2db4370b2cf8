"""The agent: the worker that runs a node's tasks, as swarmkit's `agent/` package.

It follows the dispatcher's assignments and drives a runtime (`swarmlab.runtime`); what it
needs from its node is the narrow protocol in `node_port.py`, never the node itself.
"""
from .worker import Worker

__all__ = ["Worker"]
