"""swarmlab: a teaching lab kit for container orchestration in the style of Docker Swarm."""
from ._version import __version__

__all__ = ["Lab", "__version__"]


def __getattr__(name: str):  # `from swarmlab import Lab` without importing it up front
    if name == "Lab":
        from .lab import Lab
        return Lab
    raise AttributeError(name)
