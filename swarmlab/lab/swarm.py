"""Forming a swarm on a lab's nodes, and how many nodes of each role a lab has.

Both backends start their nodes their own way and then form the swarm the same way,
through each node's Engine API, as a student would: `swarm init` on node1, the
managers join one at a time (each waits until it votes in Raft, so quorum never
depends on a manager still catching up), then the workers all at once.
"""
from __future__ import annotations

import concurrent.futures
import json
from dataclasses import dataclass
from typing import Callable

from . import tls
from ._wait import wait_for
from .clients import node_client
from .registry import LabRecord

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """What `Lab.up` was asked for: `count` nodes; with `form`, the first `managers` of
    them are managers of a new swarm and the others its workers."""
    count: int
    managers: int
    form: bool


def shape(managers: int | None = None, workers: int | None = None,
          nodes: int | None = None) -> Shape:
    """`nodes=N`: N nodes and no swarm (the init/join lessons); otherwise `managers`
    (default 1) and `workers` (default 2) form one."""
    if nodes is not None:
        result = Shape(nodes, 0, False)
    else:
        managers = 1 if managers is None else managers
        result = Shape(managers + (2 if workers is None else workers), managers, True)
    if result.count < 1:
        raise ValueError("a lab needs at least one node")
    if result.form and result.managers < 1:
        raise ValueError("a swarm needs at least one manager")
    return result


def raft_status(record: LabRecord) -> list[dict]:
    """`GET /swarmlab/raft` of every node that answers."""
    out = []
    for n in record.nodes:
        try:
            with tls.urlopen(record, n, "/swarmlab/raft", 2) as r:
                out.append(json.load(r))
        except OSError:
            continue
    return out


def raft_leader(record: LabRecord) -> str | None:
    """The node a manager reports as the Raft leader (None: no leader, or no swarmlab)."""
    return next((s["Node"] for s in raft_status(record) if s.get("State") == "leader"), None)


def voting(record: LabRecord, node: str) -> bool:
    """node is a Raft voter, caught up with the leader's commit index."""
    st = {s["Node"]: s for s in raft_status(record)}
    lead = next((s for s in st.values() if s.get("State") == "leader"), None)
    me = st.get(node)
    return bool(lead and me and node in lead.get("Members", [])
                and me["Applied"] >= lead["Commit"] - 1)


def form_swarm(record: LabRecord, managers: int, progress: Progress) -> None:
    """`swarm init` on the first node, then the managers, then the workers join."""
    first = record.nodes[0]
    c = node_client(record, first)
    c.swarm.init(advertise_addr=f"{first.addr}:{first.swarm_port}")
    c.swarm.reload()
    tokens = c.swarm.attrs["JoinTokens"]
    progress(f"swarm initialized on {first.name}")
    remote = [f"{first.addr}:{first.swarm_port}"]
    for n in record.nodes[1:managers]:
        node_client(record, n).swarm.join(remote_addrs=remote, join_token=tokens["Manager"])
        wait_for(lambda: voting(record, n.name), 20, f"{n.name} to join Raft")
        progress(f"{n.name} joined as a manager")
    workers = record.nodes[managers:]
    with concurrent.futures.ThreadPoolExecutor(max(1, len(workers))) as pool:
        list(pool.map(lambda n: node_client(record, n).swarm.join(
            remote_addrs=remote, join_token=tokens["Worker"]), workers))
    if workers:
        progress(f"{len(workers)} workers joined")
    want = len(record.nodes)
    wait_for(lambda: sum(1 for n in c.nodes.list()
                         if n.attrs["Status"]["State"] == "ready") == want,
             20, "all nodes ready")


__all__ = ["Shape", "form_swarm", "raft_leader", "raft_status", "shape", "voting"]
