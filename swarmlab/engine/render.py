"""What the Engine API shows: `docker info`, `version`, nodes, the cluster, secrets and
configs, and Raft's status, in Docker's JSON shapes.

Rendering reads the store (inside a gateway read, on the control thread) or the node's
facts; it never writes and never calls another node.
"""
from __future__ import annotations

import os
from typing import Any

from .._version import __version__
from ..ca import issuer_info, load_chain
from ..objects import (
    EngineDescription, NodeDescription, NodePlatform, NodeState, ResourceAmounts, TaskState,
    format_time,
)
from ..runtime import TaskState as RuntimeState
from ..store import ReadTx
from .gateway import Gateway, ManagerSeat
from .node_view import NodeFacts

ENGINE_VERSION = f"swarmlab-{__version__}"


def version() -> dict:
    return {"Platform": {"Name": "swarmlab"}, "Version": ENGINE_VERSION,
            "ApiVersion": "1.44", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
            "KernelVersion": os.uname().release, "GoVersion": "n/a", "GitCommit": "swarmlab",
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                            "Details": {"ApiVersion": "1.44"}}]}


def description(hostname: str) -> NodeDescription:
    """What `node inspect` shows under Description (hostname, platform, engine)."""
    return NodeDescription(
        hostname=hostname, platform=NodePlatform(architecture=os.uname().machine, os="linux"),
        resources=ResourceAmounts(nano_cpus=(os.cpu_count() or 1) * 1_000_000_000,
                                  memory_bytes=mem_total()),
        engine=EngineDescription(engine_version=ENGINE_VERSION))


def mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except OSError:
        return 0


async def info(node: NodeFacts, gw: Gateway[ManagerSeat]) -> dict:
    swarm: dict[str, Any] = {"NodeID": node.node_id, "NodeAddr": node.addr,
                             "LocalNodeState": "locked" if node.locked else
                             "active" if node.role else "inactive",
                             "ControlAvailable": node.role == "manager", "Error": "",
                             "RemoteManagers": [
                                 {"NodeID": "", "Addr": a} for a in node.managers.values()]}
    m = gw.manager
    if m is not None:
        counts = await m.control.call(lambda: (
            len(m.store.view().nodes()),
            sum(1 for n in m.store.view().nodes() if n.manager_status)))
        swarm["Nodes"], swarm["Managers"] = counts
        cluster = await m.control.call(lambda: m.store.view().cluster())
        if cluster is not None:
            swarm["Cluster"] = render_cluster(cluster)
    held = list(node.worker.controllers.values()) if node.worker else []
    running = sum(1 for c in held if c.status.state == RuntimeState.RUNNING)
    return {"ID": node.node_id or node.name, "Name": node.name, "Containers": len(held),
            "ContainersRunning": running, "ContainersPaused": 0,
            "ContainersStopped": len(held) - running,
            "ServerVersion": ENGINE_VERSION,
            "OperatingSystem": "swarmlab embedded", "OSType": "linux",
            "Architecture": "x86_64", "NCPU": os.cpu_count() or 1,
            "MemTotal": mem_total(), "Swarm": swarm, "Labels": []}


def render_node(n: Any, m: ManagerSeat | None) -> dict:
    """A node, with its ManagerStatus as this manager sees Raft (leader, reachability)."""
    doc = n.to_json()
    # Docker shows the IP the node is seen at; the store keeps the swarm port with it
    # (a node's internal API is found from it), which only ManagerStatus.Addr shows
    doc["Status"]["Addr"] = bare_ip(doc["Status"].get("Addr", ""))
    if doc.get("ManagerStatus") is not None and m is not None:
        rid = m.raft_id_of(n.id)
        doc["ManagerStatus"]["Leader"] = rid == m.leader_raft_id()
        if not doc["ManagerStatus"]["Leader"]:
            doc["ManagerStatus"].pop("Leader", None)
        reachable = rid in m.reachable() if m.is_leader() else \
            n.status.state == NodeState.READY
        doc["ManagerStatus"]["Reachability"] = "reachable" if reachable else "unreachable"
    return doc


def bare_ip(addr: str) -> str:
    """`10.0.0.1:2377` -> `10.0.0.1` (and `[::1]:2377` -> `::1`); a bare IP stays."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or (":" in host and not host.startswith("[")):
        return addr
    return host.strip("[]")


def render_secret_like(obj: Any) -> dict:
    doc = obj.to_json()
    if obj.kind == "secret":
        doc.get("Spec", {}).pop("Data", None)  # Docker never returns a secret's data
    return doc


def render_cluster(cluster: Any) -> dict:
    """The cluster as Docker's `GET /swarm` shows it: no key; `TLSInfo` is the anchor and
    the wanted issuer (the new root while rotating), `RootRotationInProgress`."""
    doc = cluster.to_json()
    root = doc.pop("RootCA", None) or {}
    doc.pop("BlacklistedCertificates", None)  # swarmkit's, not shown by Docker
    out: dict[str, Any] = {}
    for k, v in doc.items():
        if k == "JoinTokens" and root:
            out.update(_tls_fields(root))
        out[k] = v
    return out


def _tls_fields(root: dict) -> dict:
    signer = load_chain(root.get("SignerCert") or root["CACert"])[0]
    subject, public_key = issuer_info(signer)
    return {"TLSInfo": {"TrustRoot": root["CACert"], "CertIssuerSubject": subject,
                        "CertIssuerPublicKey": public_key},
            "RootRotationInProgress": bool(root.get("Intermediates"))}


def service_status(tx: "ReadTx", service: Any) -> dict:
    """`service ls`'s replicas column (`?status=true`): running and desired tasks."""
    tasks = [t for t in tx.tasks(service.id) if t.desired_state <= TaskState.RUNNING]
    running = sum(1 for t in tasks if t.status.state == TaskState.RUNNING)
    if service.spec.mode.replicated:
        desired = service.spec.mode.replicated.replicas
    else:
        desired = len({t.node_id for t in tasks})
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}


def render_network(n: Any) -> dict:
    """A network in the engine's flat shape (as Docker answers `/networks`), not the swarm one."""
    driver = n.spec.driver_configuration.name if n.spec.driver_configuration else "overlay"
    return {"Name": n.spec.name, "Id": n.id, "Created": format_time(n.created_at),
            "Scope": "swarm", "Driver": driver or "overlay", "EnableIPv6": False,
            "Internal": False, "Attachable": n.spec.attachable, "Ingress": n.spec.ingress,
            "Labels": dict(n.spec.labels), "Options": {}, "Containers": {}}


async def raft_status(name: str, gw: Gateway[ManagerSeat]) -> dict:
    m = gw.require_manager()
    st = m.status()
    rid = st.pop("LeaderRaftID")
    voters = st.pop("Voters")
    names = await m.control.call(lambda: {m.raft_id_of(n.id): n.hostname
                                          for n in m.store.view().nodes()})
    return {"Node": name, **st, "Leader": names.get(rid, ""),
            "Members": sorted(names.get(v, str(v)) for v in voters)}


__all__ = ["bare_ip", "description", "info", "mem_total", "raft_status", "render_cluster",
           "render_network",
           "render_node", "render_secret_like", "service_status", "version"]
