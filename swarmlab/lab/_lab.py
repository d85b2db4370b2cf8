"""`Lab`: a named set of nodes, started, faulted and stopped from Python or the CLI.

A `Lab` holds its record (registry.py) and the backend the record names, picked once
(backend.py): starting nodes and every fault go to the backend; what goes through a
node's Engine API (info, Raft status, traces, backups, labels) is the same everywhere
and is done here.
"""
from __future__ import annotations

import json
import shutil
from typing import Any, Callable

from .. import profiles
from . import swarm, tls
from ._wait import wait_for
from .backend import Backend, LabOptions
from .registry import LabRecord, default_lab_name, lab_dir, list_labs, load

Progress = Callable[[str], None]
BACKENDS = ("local", "docker")


def _quiet(_: str) -> None:
    pass


def backend_named(name: str) -> Backend:
    """The backend a record or `Lab.up(backend=...)` names; docker-py loads only for docker."""
    if name == "local":
        from .local import LocalBackend
        return LocalBackend()
    if name == "docker":
        from .dind.lab import DindBackend
        return DindBackend()
    raise ValueError(f"unknown backend {name!r} (local or docker)")


def _new_lab(name: str | None, backend: str, profile: str) -> tuple[str, Backend]:
    """The checks every new lab passes before a node starts."""
    name = name or default_lab_name()
    if (lab_dir(name) / "lab.json").exists():
        raise FileExistsError(f"a lab named {name!r} exists already "
                              f"(swarmlab lab down --name {name})")
    profiles.profile(profile)
    return name, backend_named(backend)


class Lab:
    def __init__(self, record: LabRecord) -> None:
        self.record = record
        self.backend: Backend = backend_named(record.backend)

    # -- starting and finding labs ---------------------------------------------------------
    @classmethod
    def up(cls, name: str | None = None, *, backend: str = "local", managers: int | None = None,
           workers: int | None = None, nodes: int | None = None, profile: str = "lab",
           engine: str = "swarmlab", tlsverify: bool = False, images: bool = True,
           progress: Progress = _quiet) -> "Lab":
        """Start a lab. With `nodes=N`, N nodes and no swarm (for the init/join lessons);
        otherwise `managers` (default 1) and `workers` (default 2) form a swarm. With
        `tlsverify`, nodes serve the Engine API as `dockerd --tlsverify` on 2376 (tls.py).
        `images=False`: a docker-backend lab loads no workload image into its nodes (faster,
        for a lab that runs no service); local nodes use the host's anyway."""
        name, chosen = _new_lab(name, backend, profile)
        shape = swarm.shape(managers, workers, nodes)
        options = LabOptions(profile=profile, tlsverify=tlsverify, engine=engine, images=images)
        return cls(chosen.up(name, shape, options, progress))

    @classmethod
    def restore(cls, path: str, name: str | None = None, *, nodes: int = 3,
                force_new_cluster: bool = True, unlock_key: str | None = None,
                backend: str = "local", progress: Progress = _quiet) -> "Lab":
        """`swarmlab swarm restore FILE`: a new lab whose node1 holds the backed-up swarm
        state, then `swarm init --force-new-cluster` on it (after `swarm unlock` if locked)."""
        name, chosen = _new_lab(name, backend, "lab")
        with open(path, "rb") as f:
            data = f.read()
        lab = cls(chosen.restore(name, data, nodes, LabOptions(), progress))
        try:
            c = lab.client(lab.nodes[0])
            if c.info()["Swarm"]["LocalNodeState"] == "locked":
                if not unlock_key:
                    progress("the swarm is locked: run `swarmlab swarm unlock` on node1, then "
                             "`swarmlab swarm init --force-new-cluster`")
                    return lab
                c.api.unlock_swarm(unlock_key)
            if force_new_cluster:
                c.swarm.init(force_new_cluster=True)
                progress("swarm init --force-new-cluster: node1 leads a new cluster")
        except BaseException:
            lab.down()
            raise
        return lab

    @classmethod
    def attach(cls, name: str | None = None) -> "Lab":
        return cls(load(name))

    @staticmethod
    def ls() -> list[LabRecord]:
        return list_labs()

    @staticmethod
    def prune(progress: Progress = _quiet) -> None:
        """Remove what crashed labs left behind (processes, directories, containers)."""
        backend_named("local").prune(progress)
        try:
            docker = backend_named("docker")
        except ImportError:  # no docker-py: no docker lab can exist
            return
        docker.prune(progress)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.record.nodes]

    # -- talking to nodes --------------------------------------------------------------------
    def client(self, node: str | None = None) -> Any:
        """A docker-py DockerClient on `node` (default: the leader, else any manager)."""
        if node is None:
            node = self.leader() or self.managers()[0]
        return self.backend.client(self.record, node)

    def info(self, node: str) -> dict:
        with tls.urlopen(self.record, self.record.node(node), "/info", 3) as r:
            return json.load(r)

    def _try_info(self, node: str) -> dict | None:
        try:
            return self.info(node)
        except OSError:
            return None

    def managers(self) -> list[str]:
        out = []
        for n in self.nodes:
            i = self._try_info(n)
            if i and i["Swarm"].get("ControlAvailable"):
                out.append(n)
        return out

    def raft_status(self) -> list[dict]:
        return swarm.raft_status(self.record)

    def leader(self) -> str | None:
        return self.backend.leader(self.record)

    def wait_for(self, pred: Callable[[], Any], timeout: float = 30.0,
                 what: str | Callable[[], str] = "", interval: float = 0.1) -> Any:
        """Poll `pred` until it returns something true; raise TimeoutError with `what`
        (a text, or a function giving one: e.g. the state the cluster is stuck in)."""
        return wait_for(pred, timeout, what, interval)

    # -- faults ------------------------------------------------------------------------------
    def kill(self, node: str) -> None:
        """The machine loses power: the node and all its tasks die at once (SIGKILL)."""
        self.backend.kill(self.record, node)

    def pause(self, node: str) -> None:
        self.backend.pause(self.record, node)

    def unpause(self, node: str) -> None:
        self.backend.unpause(self.record, node)

    def restart(self, node: str) -> None:
        """Power-cycle a node: it comes back with what it had on disk."""
        self.backend.restart(self.record, node)

    def start(self, node: str) -> None:
        """Start a killed node again."""
        self.restart(node)

    def partition(self, *nodes: str) -> None:
        """Cut these nodes off from the others, both directions."""
        for n in nodes:
            self.record.node(n)
        self.backend.partition(self.record, list(nodes))

    def heal(self) -> None:
        self.backend.heal(self.record)

    def trace(self, node: str | None = None) -> list[dict]:
        """Recorded Raft events of the managers (or one node), oldest first."""
        events = []
        for n in ([node] if node else self.nodes):
            try:
                with tls.urlopen(self.record, self.record.node(n), "/swarmlab/trace", 3) as r:
                    events += json.load(r)
            except OSError:
                continue
        return sorted(events, key=lambda e: e.get("time", 0))

    # -- backup, quorum ----------------------------------------------------------------------
    def backup(self, node: str, path: str) -> int:
        """`swarmlab swarm backup --node NODE -o FILE`: a consistent copy of that manager's
        swarm state (with the keys to read it; protected by the unlock key with autolock)."""
        data = self.operator_get(node, "/swarmlab/backup", 30)
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

    def operator_get(self, node: str, path: str, timeout: float = 30) -> bytes:
        """`GET path` as the node's operator (its unix socket, 0600): the routes that hand
        out keys (`/swarmlab/backup`, `/swarm/unlockkey`), refused on the TCP port."""
        return self.backend.operator_get(self.record, node, path, timeout)

    def unlock_key(self, node: str) -> str:
        """`swarm unlock-key -q` on that manager."""
        return json.loads(self.operator_get(node, "/swarm/unlockkey", 10))["UnlockKey"]

    def datacenters(self, layout: dict[str, list[str]]) -> None:
        """Label nodes with their datacenter (`node.labels.dc`), e.g. 3-2-2 managers."""
        c = self.client()
        for dc, names in layout.items():
            for name in names:
                n = next(x for x in c.api.nodes() if x["Description"]["Hostname"] == name)
                labels = dict(n["Spec"].get("Labels") or {}, dc=dc)
                c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Labels=labels))

    def cut_datacenter(self, dc: str) -> list[str]:
        """Partition every node labelled `dc` from the rest; returns their names."""
        c = self.client()
        names = [n["Description"]["Hostname"] for n in c.api.nodes()
                 if (n["Spec"].get("Labels") or {}).get("dc") == dc]
        self.partition(*names)
        return names

    def down(self, progress: Progress = _quiet) -> None:
        """Stop every node and task and forget the lab."""
        self.backend.down(self.record, progress)
        shutil.rmtree(self.record.dir, ignore_errors=True)
        progress(f"lab {self.name} is down")


__all__ = ["BACKENDS", "Lab", "backend_named"]
