"""The course's walk-through through docker-py (the Engine API), once per lab backend:
local node processes always, Docker-in-Docker nodes (each running swarmlab's agent,
each task a container of the node's own dockerd) where a Docker engine answers (the
`docker` marker; with SWARMLAB_TEST_REQUIRE=docker its absence fails the run).

Each step names the Docker command a student would type on a real swarm. One lab of
5 nodes per backend for the walk-through tests (a docker lab costs about a minute on
2 cores): they run in file order, the first forms the swarm by hand (3 managers, 2
workers) and each later one leaves it as it found it, except the last (a node killed).
Waits are the local backend's; DinD nodes get three times as long (`Pace`).
"""
from __future__ import annotations

import contextlib
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import docker
import pytest

from swarmlab.lab import Lab, local

WORKER_MSG = ("This node is not a swarm manager. Worker nodes can't be used to view or modify "
              "cluster state. Please run this command on a manager node or promote the current "
              "node to a manager.")
BACKENDS = ["local", pytest.param("docker", marks=[pytest.mark.docker, pytest.mark.timeout(900)])]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.read().decode()


def running(c, service: str) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def refuses(c) -> bool:
    try:
        c.api.nodes()
    except docker.errors.APIError as e:
        return WORKER_MSG in str(e)
    return False


def node_by_name(c, name: str) -> dict:
    return next(n for n in c.api.nodes() if n["Description"]["Hostname"] == name)


def hostname_of(c, node_id: str) -> str:
    return c.api.inspect_node(node_id)["Description"]["Hostname"]


@dataclass(frozen=True)
class Pace:
    """How long a step may take: measured on local nodes, three times that on DinD nodes
    (containers starting on 2 shared cores), unless a step names its own DinD wait."""
    docker: bool

    def __call__(self, local_s: float, docker_s: float | None = None) -> float:
        if not self.docker:
            return local_s
        return docker_s if docker_s is not None else 3 * local_s


@contextlib.contextmanager
def _lab_on(backend: str, home, **up):
    """A lab in its own SWARMLAB_HOME; afterwards nothing of it may be left: no node
    process or task (local), no container, network or volume (docker)."""
    name = f"W{secrets.token_hex(3)}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWARMLAB_HOME", str(home))
        lab = Lab.up(name, backend=backend, progress=print, **up)  # a failed up cleans itself
        try:
            yield lab
        finally:
            tree = [p for n in lab.record.nodes if n.pid for p in local.descendants(n.pid)]
            lab.down()
            if backend == "docker":
                from swarmlab.lab.dind import leftovers, prune
                prune(name)
                assert leftovers(name) == {"containers": [], "networks": [], "volumes": []}
            assert not [p for p in tree if local.alive(p)], "node processes left running"


@pytest.fixture(scope="module", params=BACKENDS)
def lab(request, tmp_path_factory):
    """5 nodes and no swarm yet, on each backend."""
    if request.param == "docker":
        request.getfixturevalue("docker_host")  # skip, or fail where Docker is required
    with _lab_on(request.param, tmp_path_factory.mktemp("home"), nodes=5) as lab:
        yield lab


@pytest.fixture(scope="module")
def pace(lab) -> Pace:
    return Pace(lab.record.backend == "docker")


@pytest.mark.slow
def test_course_walkthrough(lab, pace):
    """Form the swarm by hand, change nodes, run services; three managers at the end."""
    cl = _form_by_hand(lab, pace)
    _availability_and_labels(cl)
    _services(lab, cl, pace)

    # @node3$ docker node promote node1: three managers again, so one may fail
    n = node_by_name(cl, "node1")
    cl.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
    lab.wait_for(lambda: len([s for s in lab.raft_status() if len(s.get("Members", [])) == 3
                              and s["State"] in ("leader", "follower")]) == 3, pace(20),
                 "3 managers")


def _form_by_hand(lab: Lab, pace: Pace):
    """init, a refused join, 4 workers join, 2 promoted, node1 demoted: the new leader's client."""
    n1 = lab.record.node("node1")
    c1, c2, c4 = (lab.client(n) for n in ("node1", "node2", "node4"))

    # @node1$ docker swarm init --advertise-addr ...
    c1.swarm.init(advertise_addr=f"{n1.addr}:2377")
    c1.swarm.reload()
    tokens = c1.swarm.attrs["JoinTokens"]
    assert tokens["Worker"].startswith("SWMTKN-1-") and tokens["Worker"] != tokens["Manager"]

    # @node2$ docker swarm join --token WRONG ...  -> refused, nothing changes
    with pytest.raises(docker.errors.APIError) as e:
        c2.swarm.join(remote_addrs=[f"{n1.addr}:2377"], join_token="SWMTKN-1-bad-token")
    assert "join token" in str(e.value).lower()
    assert c2.info()["Swarm"]["LocalNodeState"] == "inactive"

    # @node2$ ... @node5$ docker swarm join --token ... node1:2377
    for name in lab.nodes[1:]:
        lab.client(name).swarm.join(remote_addrs=[f"{n1.addr}:2377"],
                                    join_token=tokens["Worker"])
    lab.wait_for(lambda: all(n["Status"]["State"] == "ready" for n in c1.api.nodes())
                 and len(c1.api.nodes()) == 5, pace(20), "5 ready nodes")

    # @node1$ docker node ls   (node1 is the leader)
    assert node_by_name(c1, "node1")["ManagerStatus"]["Leader"] is True
    assert "ManagerStatus" not in node_by_name(c1, "node2")

    # @node4$ docker node promote node2   -> a worker refuses with Docker's message
    with pytest.raises(docker.errors.APIError) as e:
        c4.api.nodes()
    assert e.value.response.status_code == 503 and WORKER_MSG in str(e.value)

    # @node1$ docker node promote node2 node3
    for name in ("node2", "node3"):
        n = node_by_name(c1, name)
        c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
    lab.wait_for(lambda: sorted(s["Node"] for s in lab.raft_status()
                                if s.get("Members") and len(s["Members"]) == 3) ==
                 ["node1", "node2", "node3"], pace(20), "3 Raft members")
    assert node_by_name(c1, "node2")["ManagerStatus"]["Reachability"] == "reachable"

    # @node1$ docker node demote node1   -> another manager takes over at once
    n = node_by_name(c1, "node1")
    c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
    new_leader = lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l, pace(10),
                              "leadership to move off the demoted node1")
    cl = lab.client(new_leader)
    lab.wait_for(lambda: "ManagerStatus" not in node_by_name(cl, "node1"), pace(10),
                 "node1 demoted")
    lab.wait_for(lambda: refuses(c1), pace(10), "node1 to answer as a worker")
    return cl


def _availability_and_labels(cl) -> None:
    # availability: pause, drain, active; labels
    n = node_by_name(cl, "node3")
    for availability in ("pause", "drain", "active"):
        cl.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability=availability))
        n = node_by_name(cl, "node3")
        assert n["Spec"]["Availability"] == availability
    cl.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Labels={"Memcached": "true"}))
    assert node_by_name(cl, "node3")["Spec"]["Labels"] == {"Memcached": "true"}

    # stale version refused, nothing changes
    with pytest.raises(docker.errors.APIError) as e:
        cl.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="drain"))
    assert "out of sequence" in str(e.value)
    assert node_by_name(cl, "node3")["Spec"]["Availability"] == "active"


def _services(lab: Lab, cl, pace: Pace) -> None:
    # docker service create --name www -p 8080:80 --replicas 3 swarmlab/web:1
    svc = cl.services.create("swarmlab/web:1", name="www",
                             mode=docker.types.ServiceMode("replicated", replicas=3),
                             endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    lab.wait_for(lambda: len(running(cl, "www")) == 3, pace(30), "3 www tasks running")
    for node in lab.record.nodes:  # the routing mesh answers on every node
        assert "web v1" in lab.wait_for(lambda: get(f"http://{node.addr}:8080/"), pace(10),
                                        f"port 8080 on {node.name}")
    if pace.docker:  # each task is a real container of its node's dockerd, named as Swarm does
        task = running(cl, "www")[0]
        box = _node_dockerd(lab, hostname_of(cl, task["NodeID"])).containers.list(
            filters={"label": f"com.docker.swarm.task.id={task['ID']}"})
        assert len(box) == 1 and box[0].name.startswith(f"www.{task['Slot']}.{task['ID']}")

    # docker service scale www=1
    svc.reload()
    svc.scale(1)
    lab.wait_for(lambda: len(running(cl, "www")) == 1, pace(20), "www scaled to 1")

    # rolling update: --update-parallelism 2 --update-delay 1s, then --image swarmlab/web:2
    vote = cl.services.create(
        "swarmlab/web:1", name="vote", mode=docker.types.ServiceMode("replicated", replicas=4),
        update_config=docker.types.UpdateConfig(parallelism=2, delay=1_000_000_000),
        endpoint_spec=docker.types.EndpointSpec(ports={8081: 80}))
    lab.wait_for(lambda: len(running(cl, "vote")) == 4, pace(30), "4 vote tasks")
    vote.reload()
    vote.update(image="swarmlab/web:2")
    lab.wait_for(lambda: (cl.services.get("vote").attrs.get("UpdateStatus") or {}).get("State")
                 == "completed", pace(60), "the rolling update to complete")
    assert {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")} == {"swarmlab/web:2"}
    assert "web v2" in lab.wait_for(lambda: get(f"http://{lab.record.nodes[4].addr}:8081/"),
                                    pace(10), "v2 through the mesh")
    inspected = cl.services.get("vote").attrs
    assert inspected["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "swarmlab/web:1"

    # docker service rollback vote
    _rollback(cl, inspected)
    lab.wait_for(lambda: {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")}
                 == {"swarmlab/web:1"} and len(running(cl, "vote")) == 4, pace(60), "rollback")

    # docker service rm vote
    vote = cl.services.get("vote")
    vote.remove()
    # a removed service cannot be a task filter any more (dockerd: "service vote not found")
    lab.wait_for(lambda: not [t for t in cl.api.tasks() if t["ServiceID"] == vote.id
                              and t["Status"]["State"] == "running"], pace(20),
                 "vote tasks gone")
    if pace.docker:
        lab.wait_for(lambda: not any(_node_dockerd(lab, n).containers.list(
            filters={"label": "com.docker.swarm.service.name=vote"}) for n in lab.nodes),
            pace(20), "vote containers removed from every node")


def _node_dockerd(lab: Lab, node: str):
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


def test_every_node_is_in_the_swarm(lab, request):
    c = lab.client()
    nodes = c.api.nodes()
    assert sorted(n["Description"]["Hostname"] for n in nodes) == [f"node{k}" for k in range(1, 6)]
    assert all(n["Status"]["State"] == "ready" for n in nodes)
    assert sorted(lab.managers()) == ["node1", "node2", "node3"]
    assert lab.leader() in ("node1", "node2", "node3")
    if lab.record.backend == "docker":
        docker_host = request.getfixturevalue("docker_host")
        containers = docker_host.containers.list(filters={"label": f"swarmlab.lab={lab.name}"})
        assert len(containers) == 5
        for node in lab.record.nodes:  # the agent's API and the node container agree
            box = docker_host.containers.get(node.container)
            assert box.attrs["Config"]["Hostname"] == node.name
    for node in lab.record.nodes:
        assert lab.info(node.name)["Name"] == node.name


def test_drain_moves_tasks(lab, pace):
    c = lab.client()
    svc = c.services.create("swarmlab/web:1", name="spread",
                            mode=docker.types.ServiceMode("replicated", replicas=4))
    lab.wait_for(lambda: len(running(c, "spread")) == 4, pace(30), "4 spread tasks")
    busy = hostname_of(c, running(c, "spread")[0]["NodeID"])
    n = node_by_name(c, busy)
    c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="drain"))
    try:
        lab.wait_for(lambda: len(running(c, "spread")) == 4 and all(
            hostname_of(c, t["NodeID"]) != busy for t in running(c, "spread")), pace(30),
            f"tasks to leave the drained {busy}")
        if pace.docker:
            lab.wait_for(lambda: not _node_dockerd(lab, busy).containers.list(
                filters={"label": "com.docker.swarm.service.name=spread"}), pace(20),
                f"{busy}'s containers stopped")
    finally:
        n = node_by_name(c, busy)
        c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Availability="active"))
        svc.remove()


def test_partitioned_minority_cannot_change_the_cluster(lab, pace):
    leader = lab.leader()
    follower = next(m for m in ("node1", "node2", "node3") if m != leader)
    lab.partition(follower)
    try:
        # The local firewall (node/faults.py) cuts Raft, the dispatcher and the mesh, not a
        # follower's Engine API call forwarded to the leader: only iptables refuses this.
        if pace.docker:
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
    lab.wait_for(lambda: node_by_name(c, follower)["Status"]["State"] == "ready", pace(20),
                 f"{follower} back after heal")
    names = lab.wait_for(lambda: (s := [x.name for x in lab.client(follower).services.list()])
                         and "majority" in s and s, pace(20), "the healed node to catch up")
    assert "minority" not in names
    c.services.get("majority").remove()


def test_paused_node_goes_down_and_comes_back(lab, pace, request):
    c = lab.client()
    lab.pause("node5")
    try:
        if pace.docker:
            container = lab.record.node("node5").container
            assert request.getfixturevalue("docker_host").containers.get(container).status \
                == "paused"
        lab.wait_for(lambda: node_by_name(c, "node5")["Status"]["State"] == "down", pace(20),
                     "the frozen node5 to be seen down")
    finally:
        lab.unpause("node5")
    lab.wait_for(lambda: node_by_name(c, "node5")["Status"]["State"] == "ready", pace(20),
                 "node5 ready again")


def test_killing_the_leaders_node_elects_another(lab, pace, request):
    """Another manager is elected, the services keep running on live nodes and the mesh
    answers; the killed node comes back with its disk and rejoins."""
    c = lab.client()
    c.services.create("swarmlab/web:1", name="keep",
                      mode=docker.types.ServiceMode("replicated", replicas=3))
    lab.wait_for(lambda: len(running(c, "keep")) == 3, pace(30), "3 keep tasks")
    leader = lab.leader()
    killed_at = time.monotonic()
    lab.kill(leader)
    if pace.docker:
        container = lab.record.node(leader).container
        assert request.getfixturevalue("docker_host").containers.get(container).status == "exited"
    new = lab.wait_for(lambda: (l := lab.leader()) not in (None, leader) and l, pace(10, 60),
                       "a new leader")
    print(f"new leader {new} after {time.monotonic() - killed_at:.1f}s")
    c = lab.client(new)
    lab.wait_for(lambda: len(running(c, "keep")) == 3 and all(
        hostname_of(c, t["NodeID"]) != leader for t in running(c, "keep")), pace(40),
        "keep back at 3 replicas on live nodes")
    lab.wait_for(lambda: len(running(c, "www")) == 1, pace(30), "www running after the leader died")
    alive = [n for n in lab.record.nodes if n.name != leader]
    assert "web v1" in lab.wait_for(lambda: get(f"http://{alive[0].addr}:8080/"), pace(15), "mesh")
    # the killed node comes back with its disk and rejoins as a manager
    lab.restart(leader)
    lab.wait_for(lambda: node_by_name(c, leader)["Status"]["State"] == "ready", pace(30),
                 f"{leader} ready again")


# -- on the local backend only, in a lab of its own ---------------------------------------
@pytest.mark.slow
def test_bad_input_changes_nothing(lab_factory):
    lab: Lab = lab_factory("bad", managers=1, workers=1)
    c = lab.client()
    api = lab.record.node("node1").api_url
    with pytest.raises(docker.errors.NotFound):
        c.api.inspect_node("nosuchnode")
    with pytest.raises(docker.errors.NotFound):
        c.api.inspect_service("nosuchservice")
    req = urllib.request.Request(api + "/v1.44/services/create", data=b"{not json",
                                 headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400 and "message" in json.load(e.value)
    with pytest.raises(docker.errors.APIError) as e2:
        c.services.create("swarmlab/web:1", name="bad", constraints=["node.labels.dc=east"])
    assert e2.value.response.status_code == 400
    assert c.services.list() == []
