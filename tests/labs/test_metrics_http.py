"""Each node serves Prometheus metrics on ADDR:9323/metrics, as dockerd with --metrics-addr:
the mesh's counters rise with requests through a published port, and the node and Raft
gauges say who manages, who leads, and how many tasks run where. On a local lab."""
from __future__ import annotations

import time
import urllib.request

import pytest

from swarmlab.mesh.metrics import scrape, total

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import os
    from swarmlab.lab import Lab
    old = os.environ.get("SWARMLAB_HOME")
    os.environ["SWARMLAB_HOME"] = str(tmp_path_factory.mktemp("home"))
    lab = Lab.up("metrics", managers=1, workers=1)
    try:
        c = lab.client()
        c.services.create("swarmlab/web:1", name="www", mode={"Replicated": {"Replicas": 2}},
                          endpoint_spec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]})
        lab.wait_for(lambda: sum(t["Status"]["State"] == "running"
                                 for t in c.api.tasks(filters={"service": "www"})) == 2,
                     60, "2 www tasks running")
        yield lab
    finally:
        lab.down()
        if old is None:
            os.environ.pop("SWARMLAB_HOME", None)
        else:
            os.environ["SWARMLAB_HOME"] = old


def addr(lab, node: str) -> str:
    return lab.record.node(node).addr


def test_the_endpoint_speaks_prometheus_text_format(lab):
    with urllib.request.urlopen(f"http://{addr(lab, 'node1')}:9323/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=")  # the text format
        text = r.read().decode()
    assert "# TYPE swarmlab_mesh_connections_total counter" in text
    assert "# TYPE swarm_node_manager gauge" in text


def test_node_and_raft_gauges(lab):
    m, w = scrape(addr(lab, "node1")), scrape(addr(lab, "node2"))
    assert total(m, "swarm_node_manager") == 1 and total(w, "swarm_node_manager") == 0
    assert total(m, "swarm_manager_leader", node="node1") == 1
    assert not [s for s in w if s.name.startswith(("swarm_manager", "swarmlab_raft"))]
    assert total(m, "swarmlab_raft_term") >= 1
    assert total(m, "swarmlab_raft_commit_index") >= total(m, "swarmlab_raft_applied_index") - 1 > 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # both tasks reported running: placement may take a beat
        running = [total(scrape(addr(lab, n)), "swarmlab_node_tasks_running") for n in lab.nodes]
        if sum(running) == 2:
            break
        time.sleep(0.3)
    assert sum(running) == 2, running


def test_mesh_connections_rise_with_requests(lab):
    def connections() -> float:
        return total(scrape(addr(lab, "node2")), "swarmlab_mesh_connections_total",
                     node="node2", listener="ingress:8080")

    before = connections()
    for _ in range(5):
        with urllib.request.urlopen(f"http://{addr(lab, 'node2')}:8080/", timeout=5) as r:
            assert "web" in r.read().decode()
    assert connections() == before + 5
    assert total(scrape(addr(lab, "node1")), "swarmlab_mesh_connections_total",
                 node="node1", listener="ingress:8080") == 0


def test_the_exercise_check_reads_it(lab):
    from swarmlab import check
    check.mesh_connections("node2", 8080, at_least=5, lab=lab)
    with pytest.raises(AssertionError, match="send requests to http://node1:8080/"):
        check.mesh_connections("node1", 8080, at_least=1, lab=lab, wait=0)
    with pytest.raises(AssertionError, match="the mesh counts connections to a published port"):
        check.mesh_connections("node1", 9090, at_least=1, lab=lab, wait=0)
