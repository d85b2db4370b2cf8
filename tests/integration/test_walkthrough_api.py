"""The course's walk-through on real node processes, through docker-py (the Engine API).

Each step names the Docker command a student would type on a real swarm.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import docker
import pytest

from swarmlab.lab import Lab, _docker_client

WORKER_MSG = ("This node is not a swarm manager. Worker nodes can't be used to view or modify "
              "cluster state. Please run this command on a manager node or promote the current "
              "node to a manager.")


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


@pytest.mark.slow
def test_course_walkthrough(lab_factory):
    lab: Lab = lab_factory("course", nodes=3)
    n1, n2, n3 = (lab.record.node(f"node{i}") for i in (1, 2, 3))
    c1, c2, c3 = (_docker_client(n.api_url) for n in (n1, n2, n3))

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

    # @node2$ / @node3$ docker swarm join --token ... node1:2377
    for c in (c2, c3):
        c.swarm.join(remote_addrs=[f"{n1.addr}:2377"], join_token=tokens["Worker"])
    lab.wait_for(lambda: all(n["Status"]["State"] == "ready" for n in c1.api.nodes())
                 and len(c1.api.nodes()) == 3, 20, "3 ready nodes")

    # @node1$ docker node ls   (node1 is the leader)
    assert node_by_name(c1, "node1")["ManagerStatus"]["Leader"] is True
    assert "ManagerStatus" not in node_by_name(c1, "node2")

    # @node3$ docker node promote node2   -> a worker refuses with Docker's message
    with pytest.raises(docker.errors.APIError) as e:
        c3.api.nodes()
    assert e.value.response.status_code == 503 and WORKER_MSG in str(e.value)

    # @node1$ docker node promote node2 node3
    for name in ("node2", "node3"):
        n = node_by_name(c1, name)
        spec = dict(n["Spec"], Role="manager")
        c1.api.update_node(n["ID"], n["Version"]["Index"], spec)
    lab.wait_for(lambda: sorted(s["Node"] for s in lab.raft_status()
                                if s.get("Members") and len(s["Members"]) == 3) ==
                 ["node1", "node2", "node3"], 20, "3 Raft members")
    assert node_by_name(c1, "node2")["ManagerStatus"]["Reachability"] == "reachable"

    # @node1$ docker node demote node1   -> another manager takes over at once
    n = node_by_name(c1, "node1")
    c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
    new_leader = lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l, 10,
                              "leadership to move off the demoted node1")
    cl = lab.client(new_leader)
    lab.wait_for(lambda: "ManagerStatus" not in node_by_name(cl, "node1"), 10, "node1 demoted")
    lab.wait_for(lambda: refuses(c1), 10, "node1 to answer as a worker")

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

    # docker service create --name www -p 8080:80 --replicas 3 swarmlab/web:1
    svc = cl.services.create("swarmlab/web:1", name="www",
                             mode=docker.types.ServiceMode("replicated", replicas=3),
                             endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    lab.wait_for(lambda: len(running(cl, "www")) == 3, 30, "3 www tasks running")
    for node in lab.record.nodes:  # the routing mesh answers on every node
        assert "web v1" in lab.wait_for(lambda: get(f"http://{node.addr}:8080/"), 10,
                                        f"port 8080 on {node.name}")

    # docker service scale www=1
    svc.reload()
    svc.scale(1)
    lab.wait_for(lambda: len(running(cl, "www")) == 1, 20, "www scaled to 1")

    # rolling update: --update-parallelism 2 --update-delay 1s, then --image swarmlab/web:2
    vote = cl.services.create(
        "swarmlab/web:1", name="vote", mode=docker.types.ServiceMode("replicated", replicas=4),
        update_config=docker.types.UpdateConfig(parallelism=2, delay=1_000_000_000),
        endpoint_spec=docker.types.EndpointSpec(ports={8081: 80}))
    lab.wait_for(lambda: len(running(cl, "vote")) == 4, 30, "4 vote tasks")
    vote.reload()
    vote.update(image="swarmlab/web:2")
    lab.wait_for(lambda: (cl.services.get("vote").attrs.get("UpdateStatus") or {}).get("State")
                 == "completed", 60, "the rolling update to complete")
    images = {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")}
    assert images == {"swarmlab/web:2"}
    inspected = cl.services.get("vote").attrs
    assert inspected["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "swarmlab/web:1"

    # docker service rollback vote
    _rollback(cl, inspected)
    lab.wait_for(lambda: {t["Spec"]["ContainerSpec"]["Image"] for t in running(cl, "vote")}
                 == {"swarmlab/web:1"} and len(running(cl, "vote")) == 4, 60, "rollback")

    # docker service rm vote
    cl.services.get("vote").remove()
    lab.wait_for(lambda: not running(cl, "vote"), 20, "vote tasks gone")

    # @node3$ docker node promote node1: three managers again, so one may fail
    n = node_by_name(cl, "node1")
    cl.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
    lab.wait_for(lambda: len([s for s in lab.raft_status() if len(s.get("Members", [])) == 3
                              and s["State"] in ("leader", "follower")]) == 3, 20, "3 managers")

    # kill the leader: another manager is elected and www keeps running
    leader = lab.leader()
    lab.kill(leader)
    lab.wait_for(lambda: lab.leader() not in (None, leader), 10, "a new leader")
    c = lab.client()
    lab.wait_for(lambda: len(running(c, "www")) == 1, 30, "www running after the leader died")
    alive = [n for n in lab.record.nodes if n.name != leader]
    assert "web v1" in lab.wait_for(lambda: get(f"http://{alive[0].addr}:8080/"), 15, "mesh")


def _rollback(c, inspected: dict) -> None:
    url = (f"/services/{inspected['ID']}/update?version={inspected['Version']['Index']}"
           f"&rollback=previous")
    r = c.api.post(c.api._url(url), data=json.dumps(inspected["Spec"]),
                   headers={"Content-Type": "application/json"})
    c.api._raise_for_status(r)


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


def test_a_manager_just_promoted_waits_for_the_leader_instead_of_failing(lab_factory):
    """A re-promoted manager learns the leader a moment after it starts Raft. Asked in
    that moment it waits for the leader, as swarmkit's managers do, rather than answering
    "The swarm does not have a leader" (the CLI walk-through hit this in CI)."""
    lab: Lab = lab_factory("promote", managers=3)
    c1 = lab.client("node1")
    for _ in range(3):
        n = node_by_name(c1, "node1")
        c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
        lab.wait_for(lambda: refuses(c1), 10, "node1 to answer as a worker")
        other = lab.client(lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l,
                                        10, "a leader other than node1"))
        n = node_by_name(other, "node1")
        other.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
        answers = []
        while True:  # worker refusals until node1 is a manager, then the answer itself
            try:
                answers.append(node_by_name(c1, "node1")["Spec"]["Role"])
                break
            except docker.errors.APIError as e:
                assert WORKER_MSG in str(e), f"after {len(answers)} refusals: {e}"
                answers.append("refused")
                assert len(answers) < 200, "node1 never answered as a manager"
                time.sleep(0.05)
        assert answers[-1] == "manager"


def test_a_manager_promoted_again_before_it_saw_its_demotion_rejoins_raft(lab_factory):
    """`node demote node1` then at once `node promote node1`: node1 may hear of both in one
    heartbeat answer, after the leader removed it from Raft. It must leave Raft and join
    again (swarmkit's ErrMemberRemoved), not wait for a leader that no longer talks to it."""
    lab: Lab = lab_factory("again", managers=3)
    c1 = lab.client("node1")
    for _ in range(4):
        n = node_by_name(c1, "node1")
        c1.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="worker"))
        leader = lab.wait_for(lambda: (l := lab.leader()) not in (None, "node1") and l, 10,
                              "a leader other than node1")
        other = lab.client(leader)
        lab.wait_for(lambda: "ManagerStatus" not in node_by_name(other, "node1"), 10,
                     "node1 out of Raft")
        n = node_by_name(other, "node1")
        other.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Role="manager"))
        lab.wait_for(lambda: "ManagerStatus" in node_by_name(other, "node1"), 15,
                     "node1 back in Raft")
        lab.wait_for(lambda: sum(1 for s in lab.raft_status()
                                 if s.get("State") in ("leader", "follower")) == 3, 15,
                     "3 managers following one leader")
        assert node_by_name(c1, "node1")["Spec"]["Role"] == "manager"
