"""Secrets and encryption at rest on real node processes (local backend)."""
from __future__ import annotations

import base64
import json
import os
import pathlib

import docker
import pytest

from swarmlab.lab import Lab, _docker_client

SECRET = b"MyVaultPassword-7f3a9c"


def files_containing(root: pathlib.Path, needles: list[bytes]) -> list[str]:
    hits = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = pathlib.Path(dirpath) / name
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                hits.append(str(p))
    return hits


def environ_containing(pids: list[int], needle: bytes) -> list[int]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    out.append(pid)
        except OSError:
            continue
    return out


def running(c, name):
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


@pytest.mark.slow
def test_secret_is_delivered_only_where_needed_and_never_stored_in_clear(lab_factory, lab_home):
    lab: Lab = lab_factory("sec", managers=1, workers=2)
    c = lab.client()
    # echo "MyVaultPassword" | docker secret create password -
    secret = c.secrets.create(name="password", data=SECRET)
    worker = "node3"
    node = next(n for n in c.api.nodes() if n["Description"]["Hostname"] == worker)
    # docker service create --name=api --secret=password --constraint node.hostname==node3
    ref = docker.types.SecretReference(secret.id, "password")
    c.services.create("swarmlab/web:1", name="api", secrets=[ref],
                      constraints=[f"node.hostname=={worker}"],
                      endpoint_spec=docker.types.EndpointSpec(ports={8090: 80}))
    lab.wait_for(lambda: len(running(c, "api")) == 1, 30, "api running")
    addr = lab.record.node(worker).addr
    import urllib.request

    def read_secret():
        with urllib.request.urlopen(f"http://{addr}:8090/secret/password", timeout=3) as r:
            return r.read()
    assert SECRET in lab.wait_for(read_secret, 15, "the task to read /run/secrets/password")
    # inspect never shows the data
    assert "Data" not in c.api.inspect_secret(secret.id)["Spec"]
    needles = [SECRET, base64.b64encode(SECRET)]
    # a restart of everything, then: nowhere on disk, in logs or in process environments
    for n in lab.nodes:
        lab.restart(n)
    lab.wait_for(lambda: lab.leader() is not None, 20, "a leader after the restart")
    c = lab.client()
    lab.wait_for(lambda: len(running(c, "api")) == 1, 30, "api running again")
    assert files_containing(lab_home, needles) == []
    pids = [p for n in lab.record.nodes for p in __import__("swarmlab.lab.local", fromlist=["x"])
            .descendants(n.pid)]
    assert environ_containing(pids, SECRET) == []
    # the other worker runs no task using it: it never received it (nor its tmpfs view)
    other = pathlib.Path(f"/dev/shm/swarmlab/sec-node2")
    assert files_containing(other, needles) == [] if other.exists() else True
    # docker service update --secret-rm password api: the task can no longer read it
    svc = c.api.inspect_service("api")
    spec = svc["Spec"]
    spec["TaskTemplate"]["ContainerSpec"].pop("Secrets")
    r = c.api.post(c.api._url(f"/services/{svc['ID']}/update?version={svc['Version']['Index']}"),
                   data=json.dumps(spec), headers={"Content-Type": "application/json"})
    c.api._raise_for_status(r)
    lab.wait_for(lambda: running(c, "api") and all(
        not t["Spec"]["ContainerSpec"].get("Secrets") for t in running(c, "api")), 30,
        lambda: f"the updated task: {[(t['Status'], t['DesiredState']) for t in c.api.tasks()]}")

    def gone():
        try:
            read_secret()
        except urllib.error.HTTPError as e:
            return e.code == 404
        except OSError:
            return False  # the new task is not in the mesh yet
        return False
    import urllib.error
    lab.wait_for(gone, 45, "the secret to be gone from the task")
    # docker secret rm password (no service uses it now)
    c.api.remove_secret(secret.id)
    assert files_containing(pathlib.Path("/dev/shm/swarmlab"), [SECRET]) == []


@pytest.mark.slow
def test_autolock_keeps_a_restarted_manager_locked_until_unlocked(lab_factory):
    lab: Lab = lab_factory("lock", nodes=1)
    n1 = lab.record.node("node1")
    c = _docker_client(n1.api_url)
    c.swarm.init(advertise_addr=f"{n1.addr}:2377", autolock_managers=True)
    key = lab.unlock_key("node1")  # the operator's socket: the TCP port refuses it
    assert key.startswith("SWMKEY-1-")
    c.secrets.create(name="s1", data=b"x")
    lab.restart("node1")
    c = _docker_client(n1.api_url)
    assert c.info()["Swarm"]["LocalNodeState"] == "locked"
    with pytest.raises(docker.errors.APIError) as e:
        c.secrets.list()
    assert "needs to be unlocked" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        c.api.unlock_swarm("SWMKEY-1-" + "A" * 43)
    assert "invalid key" in str(e.value)
    c.api.unlock_swarm(key)
    assert [s.name for s in lab.wait_for(lambda: c.secrets.list(), 15, "secrets")] == ["s1"]
