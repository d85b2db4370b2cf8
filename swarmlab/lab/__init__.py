"""Labs: a named set of nodes, started, faulted and stopped from Python or the CLI.

    from swarmlab import Lab
    with Lab.up(managers=3, workers=2) as lab:
        c = lab.client()                       # a docker-py DockerClient on a manager
        c.services.create("swarmlab/web:1", name="www", ...)
        lab.kill(lab.leader())                 # and watch another manager take over

The local backend runs nodes as processes on 127.0.x.y (see `local.py`); the
docker backend (`swarmlab.lab.dind`) runs them as Docker-in-Docker
containers. Either way each node serves the Engine API, so docker-py is the client.
"""
from __future__ import annotations

import concurrent.futures
import json
import shutil
import time
from typing import Any, Callable

from . import local, tls
from .registry import (
    API_PORT, SWARM_PORT, LabNotFound, LabRecord, NodeNotFound, NodeRecord, default_lab_name,
    lab_dir, list_labs, load,
)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _docker_client(url: str, tls_config: Any = None) -> Any:
    import docker
    if tls_config is not None:  # a swarmlab agent with --tlsverify (tls.py)
        c = docker.DockerClient(base_url=url, version="1.44", timeout=30, tls=tls_config)
        c.api.trust_env = False  # else REQUESTS_CA_BUNDLE replaces the lab's CA (requests#3829)
        return c
    # "auto": swarmlab's agents speak 1.44, a real dockerd 20.10 (docker-swarm engine) 1.41
    return docker.DockerClient(base_url=url.replace("http://", "tcp://"), version="auto",
                               timeout=30)


class Lab:
    def __init__(self, record: LabRecord) -> None:
        self.record = record

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
        name = name or default_lab_name()
        if (lab_dir(name) / "lab.json").exists():
            raise FileExistsError(f"a lab named {name!r} exists already "
                                  f"(swarmlab lab down --name {name})")
        if backend == "docker":
            from .dind import lab as docker_lab
            return cls(docker_lab.up(name, managers=managers, workers=workers, nodes=nodes,
                                     profile=profile, engine=engine, images=images,
                                     tlsverify=tlsverify, progress=progress))
        if backend != "local":
            raise ValueError(f"unknown backend {backend!r} (local or docker)")
        if nodes is None:
            managers = 1 if managers is None else managers
            workers = 2 if workers is None else workers
            count = managers + workers
        else:
            count = nodes
        if count < 1:
            raise ValueError("a lab needs at least one node")
        slot = local.free_slot(count)
        indexes = local.free_node_indexes(count, slot)
        port = tls.TLS_PORT if tlsverify else API_PORT
        rec = LabRecord(name=name, backend="local", profile=profile, tlsverify=tlsverify, nodes=[
            NodeRecord(f"node{k + 1}", f"127.0.{slot}.{k + 1}", api_port=port,
                       node_index=indexes[k], tls=tlsverify) for k in range(count)])
        rec.save()
        if tlsverify:
            tls.create(rec)
        lab = cls(rec)
        t0 = time.monotonic()
        try:
            local.spawn_all(rec, rec.nodes)
            rec.save()
            for n in rec.nodes:
                local.wait_api(n, context=tls.ssl_context(rec))
            progress(f"{count} nodes up in {time.monotonic() - t0:.1f}s")
            if nodes is None:
                lab._form_swarm(managers or 1, progress)
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
        return self._client_of(self.record.node(node))

    def _client_of(self, n: NodeRecord) -> Any:
        return _docker_client(n.api_url, tls.docker_tls(self.record))

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
        out = []
        for n in self.nodes:
            try:
                with tls.urlopen(self.record, self.record.node(n), "/swarmlab/raft", 2) as r:
                    out.append(json.load(r))
            except OSError:
                continue
        return out

    def _voting(self, node: str) -> bool:
        """node is a Raft voter, caught up with the leader's commit index."""
        st = {s["Node"]: s for s in self.raft_status()}
        lead = next((s for s in st.values() if s.get("State") == "leader"), None)
        me = st.get(node)
        return bool(lead and me and node in lead.get("Members", [])
                    and me["Applied"] >= lead["Commit"] - 1)

    def leader(self) -> str | None:
        for st in self.raft_status():
            if st.get("State") == "leader":
                return st["Node"]
        if (b := self._backend()) is not None and hasattr(b, "leader"):
            return b.leader(self.record)  # a real Docker Swarm has no /swarmlab/raft
        return None

    def wait_for(self, pred: Callable[[], Any], timeout: float = 30.0,
                 what: str | Callable[[], str] = "", interval: float = 0.1) -> Any:
        """Poll `pred` until it returns something true; raise TimeoutError with `what`
        (a text, or a function giving one: e.g. the state the cluster is stuck in)."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                v = pred()
                if v:
                    return v
            except Exception as e:  # noqa: BLE001 - a node may be down while we wait
                last_exc = e
            time.sleep(interval)
        if callable(what):
            what = what()
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or pred}"
                           + (f" (last error: {last_exc})" if last_exc else ""))

    # -- forming the swarm -------------------------------------------------------------------
    def _form_swarm(self, managers: int, progress: Progress) -> None:
        first = self.record.nodes[0]
        c = self._client_of(first)
        c.swarm.init(advertise_addr=f"{first.addr}:{first.swarm_port}")
        c.swarm.reload()
        tokens = c.swarm.attrs["JoinTokens"]
        progress(f"swarm initialized on {first.name}")
        remote = [f"{first.addr}:{first.swarm_port}"]
        for n in self.record.nodes[1:managers]:
            self._client_of(n).swarm.join(remote_addrs=remote, join_token=tokens["Manager"])
            self.wait_for(lambda: self._voting(n.name), 20, f"{n.name} to join Raft")
            progress(f"{n.name} joined as a manager")
        workers = self.record.nodes[managers:]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(workers))) as pool:
            list(pool.map(lambda n: self._client_of(n).swarm.join(
                remote_addrs=remote, join_token=tokens["Worker"]), workers))
        if workers:
            progress(f"{len(workers)} workers joined")
        want = len(self.record.nodes)
        self.wait_for(lambda: sum(1 for n in c.nodes.list()
                                  if n.attrs["Status"]["State"] == "ready") == want,
                      20, "all nodes ready")

    # -- faults ------------------------------------------------------------------------------
    def _backend(self) -> Any:
        if self.record.backend == "docker":
            from .dind import lab as docker_lab
            return docker_lab
        return None

    def kill(self, node: str) -> None:
        """The machine loses power: the node and all its tasks die at once (SIGKILL)."""
        if (b := self._backend()) is not None:
            return b.kill(self.record, node)
        local.kill(self.record.node(node))

    def pause(self, node: str) -> None:
        if (b := self._backend()) is not None:
            return b.pause(self.record, node)
        import signal
        local.signal_tree(self.record.node(node).pid, signal.SIGSTOP)

    def unpause(self, node: str) -> None:
        if (b := self._backend()) is not None:
            return b.unpause(self.record, node)
        import signal
        local.signal_tree(self.record.node(node).pid, signal.SIGCONT)

    def restart(self, node: str) -> None:
        """Power-cycle a node: it comes back with what it had on disk."""
        if (b := self._backend()) is not None:
            return b.restart(self.record, node)
        n = self.record.node(node)
        local.kill(n)
        local.spawn(self.record, n)
        self.record.save()
        local.wait_api(n, context=tls.ssl_context(self.record))

    def start(self, node: str) -> None:
        """Start a killed node again."""
        self.restart(node)

    def partition(self, *nodes: str) -> None:
        """Cut these nodes off from the others, both directions."""
        for n in nodes:
            self.record.node(n)
        if (b := self._backend()) is not None:
            return b.partition(self.record, list(nodes))
        local.write_partition(self.record, list(nodes))

    def heal(self) -> None:
        if (b := self._backend()) is not None:
            return b.heal(self.record)
        local.heal(self.record)

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

    # -- backup, restore, quorum -------------------------------------------------------------
    def backup(self, node: str, path: str) -> int:
        """`swarmlab swarm backup --node NODE -o FILE`: a consistent copy of that manager's
        swarm state (with the keys to read it; protected by the unlock key with autolock)."""
        with tls.urlopen(self.record, self.record.node(node), "/swarmlab/backup", 30) as r:
            data = r.read()
        with open(path, "wb") as f:
            f.write(data)
        return len(data)

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
        if (b := self._backend()) is not None:
            b.down(self.record, progress)
        else:
            with concurrent.futures.ThreadPoolExecutor(max(1, len(self.record.nodes))) as pool:
                list(pool.map(local.stop, self.record.nodes))
            for n in self.record.nodes:
                shutil.rmtree(f"/dev/shm/swarmlab/{self.name}-{n.name}", ignore_errors=True)
        shutil.rmtree(self.record.dir, ignore_errors=True)
        progress(f"lab {self.name} is down")


# -- functions the CLI calls --------------------------------------------------------------
def up(name: str | None = None, backend: str = "local", managers: int | None = None,
       workers: int | None = None, nodes: int | None = None, profile: str = "lab",
       engine: str = "swarmlab", tlsverify: bool = False,
       progress: Progress = print) -> LabRecord:
    return Lab.up(name, backend=backend, managers=managers, workers=workers, nodes=nodes,
                  profile=profile, engine=engine, tlsverify=tlsverify,
                  progress=progress).record


def down(name: str | None = None, progress: Progress = print) -> None:
    Lab.attach(name).down(progress)


def ls() -> list[LabRecord]:
    return list_labs()


def kill(name: str | None, node: str) -> None:
    Lab.attach(name).kill(node)


def pause(name: str | None, node: str) -> None:
    Lab.attach(name).pause(node)


def unpause(name: str | None, node: str) -> None:
    Lab.attach(name).unpause(node)


def restart(name: str | None, node: str) -> None:
    Lab.attach(name).restart(node)


def partition(name: str | None, nodes: list[str]) -> None:
    Lab.attach(name).partition(*nodes)


def heal(name: str | None) -> None:
    Lab.attach(name).heal()


def restore(path: str, name: str | None = None, nodes: int = 3,
            force_new_cluster: bool = True, unlock_key: str | None = None,
            progress: Progress = print) -> Lab:
    """`swarmlab swarm restore FILE`: a new lab whose node1 holds the backed-up swarm state,
    then `swarm init --force-new-cluster` on it (after `swarm unlock` if it is locked)."""
    from ..node.backup import extract_backup
    with open(path, "rb") as f:
        data = f.read()
    lab = Lab.up(name, nodes=nodes, progress=progress)
    n1 = lab.record.node("node1")
    try:
        local.stop(n1)
        extract_backup(data, lab.record.node_dir("node1"))
        local.spawn(lab.record, n1)
        lab.record.save()
        local.wait_api(n1)
        progress(f"restored the swarm state into {n1.name}")
        c = _docker_client(n1.api_url)
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


def prune(progress: Progress = print) -> None:
    """Remove what crashed labs left behind (processes, directories, containers)."""
    for rec in list_labs():
        alive = [n for n in rec.nodes if local.alive(n.pid)]
        if rec.backend == "local" and not alive:
            shutil.rmtree(rec.dir, ignore_errors=True)
            progress(f"removed stale lab {rec.name}")
    try:
        from .dind import lab as docker_lab
        docker_lab.prune(progress)
    except ImportError:
        pass


__all__ = ["Lab", "LabRecord", "NodeRecord", "LabNotFound", "NodeNotFound", "API_PORT",
           "SWARM_PORT", "up", "down", "ls", "kill", "pause", "unpause", "restart",
           "partition", "heal", "prune", "restore"]
