"""The Docker runtime: each task a container of the node's own dockerd (swarmkit's dockerapi).

Named after swarmkit's `agent/exec/dockerapi`, and not `docker`, so that `import docker`
always means docker-py.
"""
from .controller import DockerController
from .executor import DockerExecutor

__all__ = ["DockerController", "DockerExecutor"]
