"""Backup and restore, quorum loss and force-new-cluster, on real node processes."""
from __future__ import annotations

import urllib.request

import docker
import pytest

from swarmlab.lab import Lab, _docker_client


def running(c, name):
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def get(url):
    with urllib.request.urlopen(url, timeout=3) as r:
        return r.read().decode()


@pytest.mark.slow
def test_backup_destroy_restore_force_new_cluster(lab_factory, tmp_path):
    lab: Lab = lab_factory("orig", managers=1, workers=2)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="www",
                      mode=docker.types.ServiceMode("replicated", replicas=2))
    c.secrets.create(name="password", data=b"s3cret")
    c.configs.create(name="app.conf", data=b"debug=1")
    n = next(x for x in c.api.nodes() if x["Description"]["Hostname"] == "node2")
    c.api.update_node(n["ID"], n["Version"]["Index"], dict(n["Spec"], Labels={"dc": "east"}))
    lab.wait_for(lambda: len(running(c, "www")) == 2, 30, "www running")
    path = tmp_path / "node1.swarm.tgz"
    assert lab.backup("node1", str(path)) > 0
    lab.down()

    restored = Lab.restore(str(path), name="restored", nodes=2, progress=lambda _: None)
    try:
        c = _docker_client(restored.record.node("node1").api_url)
        assert [s.name for s in c.services.list()] == ["www"]
        assert [s.name for s in c.secrets.list()] == ["password"]
        assert [x.name for x in c.configs.list()] == ["app.conf"]
        labels = {x["Description"]["Hostname"]: x["Spec"].get("Labels") for x in c.api.nodes()}
        assert labels["node2"] == {"dc": "east"}
        restored.wait_for(lambda: len(running(c, "www")) == 2, 40, "www running again")
    finally:
        restored.down()


@pytest.mark.slow
def test_quorum_lost_writes_fail_tasks_keep_serving_until_force_new_cluster(lab_factory):
    lab: Lab = lab_factory("quorum", managers=3, workers=1)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="www", endpoint_spec=docker.types.EndpointSpec(
        ports={8085: 80}), mode=docker.types.ServiceMode("replicated", replicas=2),
        constraints=["node.role==worker"])
    lab.wait_for(lambda: len(running(c, "www")) == 2, 30, "www running on the worker")
    survivor = "node3" if lab.leader() != "node3" else "node2"
    for m in ("node1", "node2", "node3"):
        if m != survivor:
            lab.kill(m)
    cs = lab.client(survivor)
    # 2 of 3 managers gone: Docker's error, and nothing was written
    err = None
    try:
        cs.services.create("swarmlab/web:1", name="nope")
    except docker.errors.APIError as ex:
        err = str(ex)
    assert err and "does not have a leader" in err, err
    worker_addr = lab.record.node("node4").addr
    assert "web v1" in get(f"http://{worker_addr}:8085/"), "tasks keep serving"
    # swarmlab swarm init --force-new-cluster on the surviving manager
    cs.swarm.init(force_new_cluster=True)
    lab.wait_for(lambda: lab.leader() == survivor, 15, "the survivor to lead")
    cs.services.create("swarmlab/web:1", name="after")
    lab.wait_for(lambda: len(running(cs, "after")) == 1, 30, "writes work again")
    assert "web v1" in get(f"http://{worker_addr}:8085/")
