"""Labs of Docker-in-Docker nodes: what ``Lab`` does when ``backend="docker"``.

``up`` builds (or finds, cached) the images, starts one node container per node in
parallel on the lab's own network, each at a fixed address (a restarted container
keeps it, so Raft peers and joins stay valid), loads the workload images into
every node's dockerd, and then, with the ``swarmlab`` engine, the node's entrypoint
runs swarmlab's agent (``SWARMLAB_RUNTIME=docker``: tasks are containers of the
node's own dockerd) on the Engine API port 2375; the lab connects the nodes' task
networks (routes.py) and forms the swarm through the API with ``swarm.form_swarm``,
as the local backend does. With the ``docker-swarm`` engine there is no agent: each node's dockerd
serves port 2375 itself and a real Docker Swarm is formed (realswarm.py).

Faults act on the node containers: ``kill`` is ``docker kill`` (power lost),
``pause`` is ``docker pause`` (frozen), ``restart`` kills and starts the container
(it keeps its disk), a partition is iptables rules inside the nodes (faults.py).

Who owns a lab: one started from Python belongs to that interpreter and is pruned
when it exits (its containers carry ``swarmlab.owner=<host>:<pid>``, so ``prune``
also finds it after a crash); one started from the CLI lives until ``lab down``.
"""
from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import docker

from .. import tls
from ..backend import LabOptions
from ..clients import node_client
from ..local import wait_api
from ..registry import (
    API_PORT, LabNotFound, LabRecord, NodeRecord, lab_dir, list_labs, load,
)
from ..swarm import Shape, form_swarm, raft_leader
from ...runtime.dockerapi.spec import dockerd_bip, task_subnet
from . import faults, realswarm, resources, routes
from .nodes import NodeOptions, start_nodes
from .transfer import distribute

Progress = Callable[[str], None]
ENGINES = ("swarmlab", "docker-swarm")
STATE_DIR = "/var/lib/swarmlab"
META_FILE = "docker.json"
OWNER_LABEL = "swarmlab.owner"
AGENT_TIMEOUT_S = 90.0


def _quiet(_: str) -> None:
    pass


# -- the nodes as the record knows them ------------------------------------------------------
@dataclass
class NodeHandle:
    """A node container found through the lab record, from any process."""
    name: str
    address: str
    container: Any                               # docker-py Container
    task_subnets: list[str] = field(default_factory=list)

    def exec(self, *cmd: str) -> tuple[int, str]:
        result = self.container.exec_run(list(cmd))
        return result.exit_code, result.output.decode(errors="replace")

    @property
    def status(self) -> str:
        self.container.reload()
        return self.container.status


def _handle(record: LabRecord, name: str, client: docker.DockerClient | None = None) -> NodeHandle:
    node = record.node(name)
    client = client or docker.from_env()
    container = client.containers.get(node.container or resources.container_name(record.name, name))
    return NodeHandle(name, node.addr, container, [task_subnet(node.node_index)])


def _handles(record: LabRecord, running_only: bool = True) -> list[NodeHandle]:
    client = docker.from_env()
    out = []
    for node in record.nodes:
        try:
            h = _handle(record, node.name, client)
        except docker.errors.NotFound:
            continue
        if not running_only or h.container.status == "running":
            out.append(h)
    return out


def engine_of(record: LabRecord) -> str:
    try:
        return json.loads((record.dir / META_FILE).read_text())["engine"]
    except (OSError, ValueError, KeyError):
        return "swarmlab"


# -- up --------------------------------------------------------------------------------------
def plan(name: str, count: int, profile: str, subnet: str, tlsverify: bool = False) -> LabRecord:
    """node k at the subnet's address k+1 (.1 is the bridge's gateway), node index k."""
    hosts = list(ipaddress.IPv4Network(subnet).hosts())
    port = tls.TLS_PORT if tlsverify else API_PORT
    return LabRecord(name=name, backend="docker", profile=profile, tlsverify=tlsverify, nodes=[
        NodeRecord(f"node{k}", str(hosts[k]), api_port=port, node_index=k, tls=tlsverify)
        for k in range(1, count + 1)])


NODE_TLS_DIR = "/etc/swarmlab/tls"  # the node's --tlscacert/--tlscert/--tlskey (tls.py)


def agent_command(record: LabRecord, node: NodeRecord) -> list[str]:
    """Run by the node's entrypoint once its dockerd answers: swarmlab's agent."""
    level = os.environ.get("SWARMLAB_LOG_LEVEL", "WARNING")
    agent = (f"python3 -m swarmlab.node --name {node.name} --addr {node.addr} "
             f"--state-dir {STATE_DIR} --profile {record.profile} "
             f"--node-index {node.node_index} --log-level {level}")
    wait = "until docker info >/dev/null 2>&1; do sleep 0.2; done"
    if record.tlsverify:  # the certificates are copied in once the container runs
        d = NODE_TLS_DIR
        agent += (f" --api-port {node.api_port} --tlsverify --tlscacert {d}/ca.pem"
                  f" --tlscert {d}/cert.pem --tlskey {d}/key.pem")
        wait += f"; until [ -f {d}/key.pem ]; do sleep 0.2; done"
    return ["sh", "-c", f"{wait}; exec {agent}"]


def _copy_tls(record: LabRecord, container: Any, node: str) -> None:
    """The node's Engine API certificates into its container (`NODE_TLS_DIR`)."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in ("ca.pem", "cert.pem", "key.pem"):  # key.pem last: the agent waits for it
            tar.add(tls.tls_dir(record) / node / f, arcname=f"swarmlab/tls/{f}")
    container.put_archive("/etc", buf.getvalue())


def _options(record: LabRecord, engine: str, owner: str) -> Callable[[str], NodeOptions]:
    def options(name: str) -> NodeOptions:
        node = record.node(name)
        labels = {OWNER_LABEL: owner}
        if engine == "docker-swarm":
            return NodeOptions(address=node.addr, labels=labels, dockerd_port=node.api_port)
        # tasks run on dockerd's default bridge, on the node's own task subnet
        return NodeOptions(address=node.addr, labels=labels, command=agent_command(record, node),
                           env={"SWARMLAB_RUNTIME": "docker", "SWARMLAB_DOCKERD_ARGS":
                                dockerd_bip(task_subnet(node.node_index))})
    return options


def _network(name: str, attempts: int = 5) -> str:
    """A free subnet and the lab's network on it (another lab may take it meanwhile)."""
    for _ in range(attempts):
        subnet = resources.free_subnet()
        try:
            resources.create_network(name, subnet=subnet)
            return subnet
        except docker.errors.APIError as exc:
            if "overlap" not in str(exc).lower():
                raise
    raise RuntimeError("could not find a free subnet for the lab network")


def _detached() -> bool:
    """Started from the CLI: the lab outlives this process (as local labs do)."""
    env = os.environ.get("SWARMLAB_LAB_DETACH")
    if env is not None:
        return env not in ("", "0", "false")
    # The CLI as the program (`swarmlab ...` or `python -m swarmlab.cli`), not merely
    # imported (a test session may import it and still own its labs).
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return (os.path.basename(sys.argv[0] or "") == "swarmlab"
            or (spec is not None and spec.name.startswith("swarmlab.cli")))


def up(name: str, shape: Shape, options: LabOptions, progress: Progress = _quiet) -> LabRecord:
    """Start a lab of DinD nodes and (if ``shape.form``) form the swarm on them; the
    workload images are loaded into every node unless ``options.images`` is false."""
    engine = options.engine
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} ({' or '.join(ENGINES)})")
    if options.tlsverify and engine != "swarmlab":
        raise ValueError("--tlsverify needs the swarmlab engine")
    from ...images import build_all
    t0 = time.monotonic()
    build_all(progress=lambda line: progress(line) if "built" in line else None)
    resources.register_atexit(name)
    detached = _detached()
    owner = "" if detached else f"{socket.gethostname()}:{os.getpid()}"
    record = plan(name, shape.count, options.profile, _network(name), options.tlsverify)
    record.save()
    if options.tlsverify:
        tls.create(record)
    (record.dir / META_FILE).write_text(json.dumps({"engine": engine, "owner": owner}))
    try:
        _start(record, engine, owner, options.images, progress)
        progress(f"{shape.count} nodes up in {time.monotonic() - t0:.1f}s")
        if shape.form and engine == "swarmlab":
            form_swarm(record, shape.managers, progress)
        elif shape.form:
            realswarm.form(record, shape.managers, progress)
    except BaseException:
        _destroy(record)
        raise
    if detached:
        resources.forget_atexit(name)
    return record


def _start(record: LabRecord, engine: str, owner: str, images: bool,
           progress: Progress) -> None:
    dev_code = os.environ.get("SWARMLAB_DOCKER_DEV_CODE", "") not in ("", "0")
    dind = start_nodes(record.name, [n.name for n in record.nodes], dev_code, progress,
                       options=_options(record, engine, owner))
    for d in dind:
        record.node(d.name).container = d.container.get_wrapped_container().id
        if record.tlsverify:
            _copy_tls(record, d.container.get_wrapped_container(), d.name)
    record.save()
    if images:
        distribute(dind, progress=progress)
    if engine == "docker-swarm":
        for node in record.nodes:
            realswarm.wait_ready(node)
        return
    for node in record.nodes:
        _connect(record, _handle(record, node.name))
    for node in record.nodes:
        wait_api(node, AGENT_TIMEOUT_S, context=tls.ssl_context(record))


def _connect(record: LabRecord, handle: NodeHandle) -> None:
    routes.connect(handle, {n.node_index: n.addr for n in record.nodes if n.name != handle.name})


def _destroy(record: LabRecord) -> None:
    resources.prune(record.name)
    resources.forget_atexit(record.name)
    shutil.rmtree(record.dir, ignore_errors=True)


# -- faults ----------------------------------------------------------------------------------
def kill(record: LabRecord, node: str) -> None:
    """The machine loses power: the node container and all its tasks die (SIGKILL)."""
    _handle(record, node).container.kill()


def pause(record: LabRecord, node: str) -> None:
    """A frozen machine: every process of the node stops (the cgroup freezer)."""
    _handle(record, node).container.pause()


def unpause(record: LabRecord, node: str) -> None:
    _handle(record, node).container.unpause()


def restart(record: LabRecord, node: str) -> None:
    """Power-cycle the node: killed, started again with its disk; back when its API answers.
    Its network namespace is new: the task routes are made again, partitions are gone."""
    handle = _handle(record, node)
    if handle.status == "paused":
        handle.container.unpause()
    if handle.status in ("running", "restarting"):
        handle.container.kill()
        handle.container.wait(timeout=30)
    handle.container.start()
    _wait_dockerd(handle)
    n = record.node(node)
    if engine_of(record) == "docker-swarm":
        realswarm.wait_ready(n)
        return
    _connect(record, handle)
    wait_api(n, AGENT_TIMEOUT_S, context=tls.ssl_context(record))


def _wait_dockerd(handle: NodeHandle, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while handle.exec("docker", "info")[0] != 0:
        if time.monotonic() > deadline:
            log = handle.exec("tail", "-5", "/var/log/dockerd.log")[1]
            raise TimeoutError(f"dockerd of {handle.name} did not come back in {timeout:.0f}s:\n{log}")
        time.sleep(0.2)


def partition(record: LabRecord, nodes: list[str]) -> None:
    """Cut ``nodes`` off from the rest, both directions: iptables inside every running
    node (a paused or killed node gets no rules; its peers' rules still cut it off)."""
    handles = _handles(record)
    faults.partition(handles, [h for h in handles if h.name in nodes])


def heal(record: LabRecord) -> None:
    for handle in _handles(record):
        faults.heal(handle)


# -- down and prune --------------------------------------------------------------------------
def down(record: LabRecord, progress: Progress = _quiet) -> None:
    """Remove every container, network and volume of the lab (the record goes too)."""
    removed = resources.prune(record.name)
    resources.forget_atexit(record.name)
    progress(f"lab {record.name}: " + ", ".join(f"{v} {k}" for k, v in removed.items())
             + " removed")


def _owner_gone(owner: str) -> bool:
    host, _, pid = owner.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not os.path.exists(f"/proc/{pid}")


def stale_labs(client: docker.DockerClient | None = None) -> set[str]:
    """Labs whose owning interpreter is gone, and recorded docker labs with no running node."""
    client = client or docker.from_env()
    stale = set()
    for c in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        if _owner_gone(c.labels.get(OWNER_LABEL, "")):
            stale.add(c.labels[resources.LAB_LABEL])
    for rec in list_labs():
        if rec.backend == "docker" and not client.containers.list(
                filters={"label": f"{resources.LAB_LABEL}={rec.name}", "status": "running"}):
            stale.add(rec.name)
    return stale


def prune(progress: Progress = _quiet) -> None:
    """Remove what crashed kernels left: their labs' containers, networks, volumes, records."""
    for name in sorted(stale_labs()):
        removed = resources.prune(name)
        try:
            if load(name).backend == "docker":
                shutil.rmtree(lab_dir(name), ignore_errors=True)
        except LabNotFound:
            pass
        progress(f"removed stale docker lab {name} ("
                 + ", ".join(f"{v} {k}" for k, v in removed.items()) + ")")


def leader(record: LabRecord) -> str | None:
    """The leader's node name, for either engine."""
    if engine_of(record) == "docker-swarm":
        return realswarm.leader(record)
    return raft_leader(record)


def client(record: LabRecord, node: str | None = None) -> docker.DockerClient:
    """docker-py on ``node`` (default: the leader), for either engine (real dockerd 20.10
    speaks API 1.41, so its client negotiates the version)."""
    name = node or leader(record) or record.nodes[0].name
    if engine_of(record) != "docker-swarm":
        return node_client(record, record.node(name))
    return realswarm.client(record.node(name))


class DindBackend:
    """The `Backend` of docker labs: this module's functions, as `Lab` calls them."""
    up = staticmethod(up)
    kill = staticmethod(kill)
    pause = staticmethod(pause)
    unpause = staticmethod(unpause)
    restart = staticmethod(restart)
    partition = staticmethod(partition)
    heal = staticmethod(heal)
    down = staticmethod(down)
    prune = staticmethod(prune)
    leader = staticmethod(leader)
    client = staticmethod(client)

    @staticmethod
    def operator_get(record: LabRecord, node: str, path: str, timeout: float) -> bytes:
        """On the node's operator socket, inside its container (`docker exec`)."""
        import base64
        script = ("import base64, sys; from swarmlab.engine.operator import operator_socket; "
                  "from swarmlab.lab.clients import operator_get; sys.stdout.write(base64."
                  f"b64encode(operator_get(str(operator_socket({STATE_DIR!r})), {path!r}, "
                  f"{timeout!r})).decode())")
        code, out = _handle(record, node).exec("python3", "-c", script)
        if code != 0:
            raise OSError(f"{path} on {node}: {out.strip().splitlines()[-1] if out else code}")
        return base64.b64decode(out.strip())

    @staticmethod
    def restore(name: str, backup: bytes, nodes: int, options: LabOptions,
                progress: Progress) -> LabRecord:
        raise ValueError("restoring a backup needs the local backend: a docker lab's node "
                         "state lives in its container (swarm restore starts a local lab)")
