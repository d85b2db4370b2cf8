"""Real Docker Swarm on the lab's nodes (``--engine docker-swarm``), for comparison.

Each node's own dockerd serves the Engine API on the node's API port (2375), so
the lab's records, ``Lab.client()`` and the CLI talk to real Docker exactly as they
talk to swarmlab's agent. Forming the swarm is ``docker swarm init`` on the first
node and ``docker swarm join`` on the others, through docker-py.

What does not work here: the ingress routing mesh. It needs IPVS in the kernel
(``/proc/net/ip_vs``), which this kernel lacks, so a published port of a service
refuses connections; docs/docker-backend.md shows the evidence.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import docker

from ..clients import docker_client
from ..registry import LabRecord, NodeRecord

Progress = Callable[[str], None]


def client(node: NodeRecord, timeout: int = 30) -> docker.DockerClient:
    return docker_client(node.api_url, timeout=timeout)  # real dockerd: no lab TLS


def wait_ready(node: NodeRecord, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client(node, timeout=3).ping()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"dockerd of {node.name} did not answer within {timeout:.0f}s")
            time.sleep(0.2)


def form(record: LabRecord, managers: int, progress: Progress) -> None:
    """``swarm init`` on node1, managers join one by one, then workers all at once."""
    first = record.nodes[0]
    c = client(first)
    c.swarm.init(advertise_addr=first.addr, listen_addr=f"0.0.0.0:{first.swarm_port}")
    c.swarm.reload()
    tokens = c.swarm.attrs["JoinTokens"]
    progress(f"real swarm initialized on {first.name}")
    remote = [f"{first.addr}:{first.swarm_port}"]

    def join(node: NodeRecord, token: str) -> None:
        client(node, timeout=60).swarm.join(remote_addrs=remote, join_token=token,
                                            advertise_addr=node.addr)

    for node in record.nodes[1:managers]:
        join(node, tokens["Manager"])
        progress(f"{node.name} joined as a manager")
    workers = record.nodes[managers:]
    with ThreadPoolExecutor(max(1, len(workers))) as pool:
        list(pool.map(lambda n: join(n, tokens["Worker"]), workers))
    if workers:
        progress(f"{len(workers)} workers joined")
    wait_all_ready(c, len(record.nodes))


def wait_all_ready(c: docker.DockerClient, want: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = c.api.nodes()
        if sum(1 for n in nodes if n["Status"]["State"] == "ready") == want:
            return
        time.sleep(0.2)
    raise TimeoutError(f"not all {want} nodes of the real swarm became ready")


def leader(record: LabRecord, skip: tuple[str, ...] = ()) -> str | None:
    """The leader's hostname, as ``docker node ls`` on any reachable manager says."""
    for node in record.nodes:
        if node.name in skip:
            continue
        try:
            nodes: list[dict[str, Any]] = client(node, timeout=3).api.nodes()
        except Exception:  # noqa: BLE001 - a worker, or down
            continue
        for n in nodes:
            if (n.get("ManagerStatus") or {}).get("Leader"):
                return n["Description"]["Hostname"]
    return None
