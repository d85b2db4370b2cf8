"""What a lab backend does: start nodes, break them, and take them down.

A backend is where a lab's nodes live: processes on 127.0.x.y (`local.LocalBackend`)
or Docker-in-Docker containers (`dind.lab.DindBackend`). `Lab` picks one from the
lab's record once and calls it for everything that depends on where nodes run;
what goes through a node's API (info, Raft status, traces, backups) is the same
for every backend and stays in `Lab`. Nodes are named as in the record ("node1").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .registry import LabRecord
from .swarm import Shape

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LabOptions:
    """How a new lab's nodes run. `engine` and `images` matter to the docker backend only:
    the orchestrator inside the nodes (swarmlab's, or real Docker Swarm) and whether the
    workload images are loaded into each node (local nodes use the host's)."""
    profile: str = "lab"
    tlsverify: bool = False
    engine: str = "swarmlab"
    images: bool = True


class Backend(Protocol):
    def up(self, name: str, shape: Shape, options: LabOptions,
           progress: Progress) -> LabRecord:
        """Start the nodes and, if `shape.form`, form the swarm; recorded under `name`.
        A failure half-way leaves nothing behind."""

    def restore(self, name: str, backup: bytes, nodes: int, options: LabOptions,
                progress: Progress) -> LabRecord:
        """A new lab of `nodes` nodes, no swarm, node1 holding the backed-up swarm state."""

    def kill(self, record: LabRecord, node: str) -> None:
        """The machine loses power: the node and its tasks die at once."""

    def pause(self, record: LabRecord, node: str) -> None:
        """The machine freezes: every process of the node stops."""

    def unpause(self, record: LabRecord, node: str) -> None: ...

    def restart(self, record: LabRecord, node: str) -> None:
        """Power-cycle the node; it comes back with its disk, once its API answers."""

    def partition(self, record: LabRecord, nodes: list[str]) -> None:
        """Cut `nodes` off from the others, both directions."""

    def heal(self, record: LabRecord) -> None:
        """Undo every partition."""

    def down(self, record: LabRecord, progress: Progress) -> None:
        """Stop every node and task (the lab's directory is `Lab.down`'s to remove)."""

    def prune(self, progress: Progress) -> None:
        """Remove what crashed labs of this backend left behind."""

    def leader(self, record: LabRecord) -> str | None:
        """The name of the node leading the swarm's managers, if one does."""

    def client(self, record: LabRecord, node: str) -> Any:
        """A docker-py DockerClient on `node`."""

    def operator_get(self, record: LabRecord, node: str, path: str, timeout: float) -> bytes:
        """`GET path` on the node's operator socket (backups, keys: `engine/operator.py`)."""


__all__ = ["Backend", "LabOptions", "Progress"]
