"""Real Docker Swarm on the same Docker-in-Docker nodes (`--engine docker-swarm`):
the reference a lesson compares swarmlab with. The lab forms it (swarm init/join
through each node's own dockerd), the same `Lab` faults act on it, and what does not
work on this kernel (the ingress mesh: no IPVS) is shown, not hidden.
"""
from __future__ import annotations

import socket
import time

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

docker = pytest.importorskip("docker")


def running(c, service: str) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


@pytest.fixture(scope="module")
def real(docker_lab, tmp_path_factory):
    with docker_lab(tmp_path_factory.mktemp("home"), "R", "docker lab 3+2 up (real Docker Swarm)",
                    engine="docker-swarm", managers=3, workers=2) as lab:
        yield lab


def test_real_swarm_forms_on_the_nodes(real):
    from swarmlab.lab.dind import lab as docker_lab
    c = docker_lab.client(real.record)
    nodes = c.api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == [f"node{k}" for k in range(1, 6)]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    managers = sorted(n["Description"]["Hostname"] for n in nodes if n["Spec"]["Role"] == "manager")
    assert managers == ["node1", "node2", "node3"]
    assert docker_lab.leader(real.record) == "node1"
    info = real.info("node1")  # the API on port 2375 is real Docker's
    assert info["Swarm"]["LocalNodeState"] == "active" and "ServerVersion" in info


def test_services_converge_but_ingress_needs_ipvs(real):
    from swarmlab.lab.dind import lab as docker_lab
    c = docker_lab.client(real.record)
    c.services.create("swarmlab/web:1", name="www",
                      mode=docker.types.ServiceMode("replicated", replicas=3),
                      endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    real.wait_for(lambda: len(running(c, "www")) == 3, 120, "3 www tasks running")
    # The ingress mesh is IPVS in each node's kernel: this kernel has none, so a
    # published port does not answer (docs/docker-backend.md).
    node = docker_lab._handle(real.record, "node1")
    code, _ = node.exec("test", "-e", "/proc/net/ip_vs")
    if code == 0:
        pytest.skip("this kernel has IPVS: the ingress mesh may work here")
    for n in real.record.nodes:
        with socket.socket() as s:
            s.settimeout(3)
            assert s.connect_ex((n.addr, 8080)) != 0, f"{n.name}:8080 answered without IPVS"
    c.services.get("www").remove()


def test_faults_act_on_the_real_swarm(real):
    from swarmlab.lab.dind import lab as docker_lab
    c = docker_lab.client(real.record, "node1")
    c.services.create("swarmlab/web:1", name="keep",
                      mode=docker.types.ServiceMode("replicated", replicas=3))
    real.wait_for(lambda: len(running(c, "keep")) == 3, 120, "3 keep tasks")
    # a partitioned minority manager cannot write; the majority can
    real.partition("node3")
    try:
        minority = docker_lab.client(real.record, "node3")
        minority.api.timeout = 30
        with pytest.raises((docker.errors.APIError, docker.errors.DockerException, OSError)):
            minority.services.create("swarmlab/web:1", name="minority")
        c.services.create("swarmlab/web:1", name="majority")
    finally:
        real.heal()
    # kill the leader's node: another manager takes over, the service stays at 3
    leader = real.wait_for(lambda: docker_lab.leader(real.record), 60, "a leader after heal")
    killed_at = time.monotonic()
    real.kill(leader)
    new = real.wait_for(lambda: (l := docker_lab.leader(real.record)) not in (None, leader)
                        and l, 90, "a new real-swarm leader")
    print(f"real swarm: new leader {new} after {time.monotonic() - killed_at:.1f}s")
    c = docker_lab.client(real.record, new)
    real.wait_for(lambda: len(running(c, "keep")) == 3, 120, "keep back at 3 replicas")
