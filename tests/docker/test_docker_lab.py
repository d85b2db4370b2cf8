"""A docker-backend lab (3 managers + 2 workers, each a Docker-in-Docker node running
swarmlab's agent, each task a container of the node's own dockerd) through `Lab`:
the course walk-through, drain, a partitioned minority, killing the leader's node.

One lab for the module (starting one costs about a minute on 2 cores); the tests run
in file order and each leaves the lab as it found it, except the last (a node killed).
The fixture prunes the lab by label whatever happens and checks nothing is left.
"""
from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

docker = pytest.importorskip("docker")

WORKER_MSG = ("This node is not a swarm manager. Worker nodes can't be used to view or modify "
              "cluster state. Please run this command on a manager node or promote the current "
              "node to a manager.")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.read().decode()


def running(c, service: str) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def node_by_name(c, name: str) -> dict:
    return next(n for n in c.api.nodes() if n["Description"]["Hostname"] == name)


def hostname_of(c, node_id: str) -> str:
    return c.api.inspect_node(node_id)["Description"]["Hostname"]


@pytest.fixture(scope="module")
def lab(docker_lab, tmp_path_factory):
    """A 3-manager + 2-worker docker-backend lab, pruned by label at the end."""
    with docker_lab(tmp_path_factory.mktemp("home"), "L", "docker lab 3+2 up (swarmlab engine)",
                    managers=3, workers=2) as lab:
        yield lab


def test_lab_comes_up(lab, docker_host):
    c = lab.client()
    nodes = c.api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == [f"node{k}" for k in range(1, 6)]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    assert sorted(lab.managers()) == ["node1", "node2", "node3"]
    assert lab.leader() in ("node1", "node2", "node3")
    containers = docker_host.containers.list(filters={"label": f"swarmlab.lab={lab.name}"})
    assert len(containers) == 5
    for node in lab.record.nodes:  # the agent's API and the node container agree
        box = docker_host.containers.get(node.container)
        assert box.attrs["Config"]["Hostname"] == node.name
        assert lab.info(node.name)["Name"] == node.name


def test_course_walkthrough(lab):
    leader = lab.leader()
    cl = lab.client(leader)
    # @manager$ docker node ls   (the leader is marked)
    assert node_by_name(cl, leader)["ManagerStatus"]["Leader"] is True
    assert "ManagerStatus" not in node_by_name(cl, "node4")
    # @node4$ docker node promote node5   -> a worker refuses with Docker's message
    with pytest.raises(docker.errors.APIError) as e:
        lab.client("node4").api.nodes()
    assert e.value.response.status_code == 503 and WORKER_MSG in str(e.value)

    # docker service create --name www -p 8080:80 --replicas 3 swarmlab/web:1
    svc = cl.services.create("swarmlab/web:1", name="www",
                             mode=docker.types.ServiceMode("replicated", replicas=3),
                             endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    lab.wait_for(lambda: len(running(cl, "www")) == 3, 90, "3 www tasks running")
    for node in lab.record.nodes:  # the routing mesh answers on every node
        assert "web v1" in lab.wait_for(lambda: get(f"http://{node.addr}:8080/"), 20,
                                        f"port 8080 on {node.name}")
    # each task is a real container of its node's dockerd, named as Swarm names it
    task = running(cl, "www")[0]
    box = _node_dockerd(lab, hostname_of(cl, task["NodeID"])).containers.list(
        filters={"label": f"com.docker.swarm.task.id={task['ID']}"})
    assert len(box) == 1 and box[0].name.startswith(f"www.{task['Slot']}.{task['ID']}")

    # docker service scale www=1
    svc.reload()
    svc.scale(1)
    lab.wait_for(lambda: len(running(cl, "www")) == 1, 60, "www scaled to 1")

    # rolling update: --update-parallelism 2 --update-delay 1s, then --image swarmlab/web:2
    vote = cl.services.create(
        "swarmlab/web:1", name="vote", mode=docker.types.ServiceMode("replicated", replicas=4),
        update_config=docker.types.UpdateConfig(parallelism=2, delay=1_000_000_000),
        endpoint_spec=docker.types.EndpointSpec(ports={8081: 80}))
    lab.wait_for(lambda: len(running(cl, "vote")) == 4, 90, "4 vote tasks")
    vote.reload()
    vote.update(image="swarmlab/web:2")
    lab.wait_for(lambda: (cl.services.get("vote").attrs.get("UpdateStatus") or {}).get("State")
                 == "completed", 120, "the rolling update to complete")
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")} == {"swarmlab/web:2"}
    assert "web v2" in lab.wait_for(lambda: get(f"http://{lab.record.nodes[4].addr}:8081/"), 20,
                                    "v2 through the mesh")
    inspected = cl.services.get("vote").attrs
    assert inspected["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "swarmlab/web:1"

    # docker service rollback vote
    _rollback(cl, inspected)
    lab.wait_for(lambda: {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")}
                 == {"swarmlab/web:1"} and len(running(cl, "vote")) == 4, 120, "rollback")

    # docker service rm vote
    cl.services.get("vote").remove()
    lab.wait_for(lambda: not running(cl, "vote"), 60, "vote tasks gone")
    lab.wait_for(lambda: not any(_node_dockerd(lab, n).containers.list(
        filters={"label": "com.docker.swarm.service.name=vote"}) for n in lab.nodes), 60,
        "vote containers removed from every node")


def _node_dockerd(lab, node: str):
    """The node's own dockerd (not the agent): what runs the tasks."""
    from swarmlab.images import DOCKERD_TCP_PORT
    return docker.DockerClient(base_url=f"tcp://{lab.record.node(node).addr}:{DOCKERD_TCP_PORT}",
                               timeout=30)


def _rollback(c, inspected: dict) -> None:
    url = (f"/services/{inspected['ID']}/update?version={inspected['Version']['Index']}"
           f"&rollback=previous")
    r = c.api.post(c.api._url(url), data=json.dumps(inspected["Spec"]),
                   headers={"Content-Type": "application/json"})
    c.api._raise_for_status(r)


def test_drain_moves_tasks(lab):
    c = lab.client()
    svc = c.services.create("swarmlab/web:1", name="spread",
                            mode=docker.types.ServiceMode("replicated", replicas=4))
    lab.wait_for(lambda: len(running(c, "spread")) == 4, 90, "4 spread tasks")
    busy = hostname_of(c, running(c, "spread")[0]["NodeID"])
    n = node_by_name(c, busy)
    c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="drain"))
    try:
        lab.wait_for(lambda: len(running(c, "spread")) == 4 and all(
            hostname_of(c, t["NodeID"]) != busy for t in running(c, "spread")), 90,
            f"tasks to leave the drained {busy}")
        lab.wait_for(lambda: not _node_dockerd(lab, busy).containers.list(
            filters={"label": "com.docker.swarm.service.name=spread"}), 60,
            f"{busy}'s containers stopped")
    finally:
        n = node_by_name(c, busy)
        c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="active"))
        svc.remove()


def test_partitioned_minority_cannot_change_the_cluster(lab):
    leader = lab.leader()
    follower = next(m for m in ("node1", "node2", "node3") if m != leader)
    lab.partition(follower)
    try:
        minority = lab.client(follower)
        minority.api.timeout = 15
        with pytest.raises((docker.errors.APIError, docker.errors.DockerException, OSError)):
            minority.services.create("swarmlab/web:1", name="minority")
        majority = lab.client(leader)
        majority.services.create("swarmlab/web:1", name="majority")
        assert "majority" in [s.name for s in majority.services.list()]
        assert lab.leader() == leader
    finally:
        lab.heal()
    c = lab.client()
    lab.wait_for(lambda: node_by_name(c, follower)["Status"]["State"] == "ready", 60,
                 f"{follower} back after heal")
    names = lab.wait_for(lambda: (s := [x.name for x in lab.client(follower).services.list()])
                         and "majority" in s and s, 60, "the healed node to catch up")
    assert "minority" not in names
    c.services.get("majority").remove()


def test_paused_node_goes_down_and_comes_back(lab, docker_host):
    c = lab.client()
    lab.pause("node5")
    try:
        assert docker_host.containers.get(lab.record.node("node5").container).status == "paused"
        lab.wait_for(lambda: node_by_name(c, "node5")["Status"]["State"] == "down", 60,
                     "the frozen node5 to be seen down")
    finally:
        lab.unpause("node5")
    lab.wait_for(lambda: node_by_name(c, "node5")["Status"]["State"] == "ready", 60,
                 "node5 ready again")


def test_killing_the_leaders_node_elects_another(lab, docker_host):
    c = lab.client()
    c.services.create("swarmlab/web:1", name="keep",
                      mode=docker.types.ServiceMode("replicated", replicas=3))
    lab.wait_for(lambda: len(running(c, "keep")) == 3, 90, "3 keep tasks")
    leader = lab.leader()
    killed_at = time.monotonic()
    lab.kill(leader)
    assert docker_host.containers.get(lab.record.node(leader).container).status == "exited"
    new = lab.wait_for(lambda: (l := lab.leader()) not in (None, leader) and l, 60, "a new leader")
    print(f"new leader {new} after {time.monotonic() - killed_at:.1f}s")
    c = lab.client(new)
    lab.wait_for(lambda: len(running(c, "keep")) == 3 and all(
        hostname_of(c, t["NodeID"]) != leader for t in running(c, "keep")), 120,
        "keep back at 3 replicas on live nodes")
    # the killed node comes back with its disk and rejoins as a manager
    lab.restart(leader)
    lab.wait_for(lambda: node_by_name(c, leader)["Status"]["State"] == "ready", 90,
                 f"{leader} ready again")


CRASHING_OWNER = """
import sys, time
from swarmlab.lab import Lab
Lab.up(sys.argv[1], backend="docker", nodes=1)
print("up", flush=True)
time.sleep(600)
"""


def test_prune_removes_what_a_crashed_owner_left(docker_host, images, tmp_path, monkeypatch):
    """An interpreter killed with SIGKILL runs no atexit: its lab stays until `lab prune`,
    which finds it by its owner label and removes containers, network, volume, record."""
    import signal
    import subprocess
    import sys

    from swarmlab.lab.dind import lab as docker_lab
    from swarmlab.lab.dind import leftovers, prune
    from swarmlab.lab import registry
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    name = f"P{secrets.token_hex(3)}"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_OWNER, name], stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
    try:
        assert proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        left = leftovers(name)
        assert len(left["containers"]) == 1 and left["networks"] and left["volumes"]
        assert name in docker_lab.stale_labs()
        docker_lab.prune(print)
        assert leftovers(name) == {"containers": [], "networks": [], "volumes": []}
        assert name not in [r.name for r in registry.list_labs()]
    finally:
        proc.kill()
        prune(name)
