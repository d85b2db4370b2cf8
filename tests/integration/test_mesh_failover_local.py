"""A replica's node is killed: the routing mesh and service names stop sending to it within a
few seconds, and the service returns to its replica count (real node processes)."""
from __future__ import annotations

import time
import urllib.request

import docker
import pytest

from swarmlab.lab import Lab


def running(c, name):
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def hit(addr: str, port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://{addr}:{port}/", timeout=2) as r:
            return r.read().decode()
    except OSError as e:
        return f"error: {e}"


@pytest.mark.slow
def test_killed_replica_node_leaves_the_mesh_and_the_service_recovers(lab_factory):
    lab: Lab = lab_factory("meshkill", managers=1, workers=3)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="web", endpoint_spec=docker.types.EndpointSpec(
        ports={8070: 80}), mode=docker.types.ServiceMode("replicated", replicas=3),
        constraints=["node.role==worker"])
    lab.wait_for(lambda: len(running(c, "web")) == 3, 40, "3 replicas, one per worker")
    entry = lab.record.node("node1").addr  # a node that runs no replica
    lab.wait_for(lambda: {hit(entry, 8070).split("node=")[-1].split()[0]
                          for _ in range(9)} >= {"node2", "node3", "node4"}, 20,
                 "the mesh to spread over the three workers")
    lab.kill("node3")
    t0 = time.monotonic()

    def clean() -> bool:  # ten answers in a row, none from node3, no error
        answers = [hit(entry, 8070) for _ in range(10)]
        return all("web v1" in a and "node=node3" not in a for a in answers)
    lab.wait_for(clean, 15, "the mesh to stop sending to the dead node")
    settled = time.monotonic() - t0
    assert settled < 10, f"the mesh kept the dead node's task for {settled:.1f}s"
    lab.wait_for(lambda: len(running(c, "web")) == 3 and all(
        t["NodeID"] != _node_id(c, "node3") for t in running(c, "web")), 40,
        "the service back at 3 replicas without node3")


def _node_id(c, hostname: str) -> str:
    return next(n["ID"] for n in c.api.nodes() if n["Description"]["Hostname"] == hostname)
