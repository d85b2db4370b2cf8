"""Where labs are recorded, so the CLI and notebooks find a lab's nodes by name.

A lab lives in `$SWARMLAB_HOME/labs/<name>/` (default `~/.swarmlab/labs/<name>/`):
`lab.json` describes it and each node has its own state directory beside it
(`nodes/<node>/`, the equivalent of `/var/lib/docker` on that machine).

lab.json:
    {"name": "course", "backend": "local", "profile": "lab",
     "nodes": [{"name": "node1", "addr": "127.0.1.1", "api_port": 2375,
                "swarm_port": 2377, "pid": 1234, "container": null}]}
"""
from __future__ import annotations

import json
import os
import pathlib
from dataclasses import asdict, dataclass, field

from ..files import write_atomic

DEFAULT_LAB = "course"
API_PORT = 2375  # Docker's unencrypted API port
SWARM_PORT = 2377  # Docker's swarm management port


class LabNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no lab named {name!r} (start one with: swarmlab lab up --name {name})")
        self.name = name


class NodeNotFound(LookupError):
    def __init__(self, lab: str, node: str) -> None:
        super().__init__(f"lab {lab!r} has no node named {node!r}")


@dataclass
class NodeRecord:
    name: str
    addr: str
    api_port: int = API_PORT
    swarm_port: int = SWARM_PORT
    pid: int | None = None
    container: str | None = None
    node_index: int = 0  # which task-address range the node owns (runtime.addresses)
    tls: bool = False  # the Engine API is TLS with client certificates (lab/tls.py)

    @property
    def api_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.addr}:{self.api_port}"

    @property
    def docker_host(self) -> str:
        """What docker-py / the docker CLI take as DOCKER_HOST."""
        return f"tcp://{self.addr}:{self.api_port}"


@dataclass
class LabRecord:
    name: str
    backend: str = "local"
    profile: str = "lab"
    nodes: list[NodeRecord] = field(default_factory=list)
    tlsverify: bool = False  # `lab up --tlsverify`: certificates under tls/ (lab/tls.py)

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise NodeNotFound(self.name, name)

    @property
    def dir(self) -> pathlib.Path:
        return lab_dir(self.name)

    def node_dir(self, node: str) -> pathlib.Path:
        return self.dir / "nodes" / node

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)  # not private, as write_atomic would make it
        write_atomic(self.dir / "lab.json", json.dumps(asdict(self), indent=2).encode())


def home() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SWARMLAB_HOME", pathlib.Path.home() / ".swarmlab"))


def lab_dir(name: str) -> pathlib.Path:
    return home() / "labs" / name


def default_lab_name() -> str:
    return os.environ.get("SWARMLAB_LAB", DEFAULT_LAB)


def load(name: str | None = None) -> LabRecord:
    name = name or default_lab_name()
    path = lab_dir(name) / "lab.json"
    if not path.exists():
        raise LabNotFound(name)
    doc = json.loads(path.read_text())
    nodes = [NodeRecord(**n) for n in doc.pop("nodes", [])]
    return LabRecord(nodes=nodes, **doc)


def list_labs() -> list[LabRecord]:
    root = home() / "labs"
    if not root.exists():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if (d / "lab.json").exists():
            out.append(load(d.name))
    return out
