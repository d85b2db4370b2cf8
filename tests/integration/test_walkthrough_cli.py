"""The course's walk-through typed as a student types it: the `swarmlab` CLI against real
node processes. Each step shows the Docker command it stands for."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

WORKER_MSG = ("Error response from daemon: This node is not a swarm manager. Worker nodes "
              "can't be used to view or modify cluster state. Please run this command on a "
              "manager node or promote the current node to a manager.")


class Shell:
    def __init__(self, home: str) -> None:
        self.env = dict(os.environ, SWARMLAB_HOME=home, SWARMLAB_LAB="walk")

    def __call__(self, *args: str, node: str | None = None, ok: bool = True,
                 stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "swarmlab.cli"] + (["--node", node] if node else []) + list(args)
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, input=stdin,
                           timeout=timeout)
        if ok and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def wait(self, pred, timeout: float, what: str):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}")


def http(addr: str, port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://{addr}:{port}/", timeout=3) as r:
            return r.read().decode()
    except OSError:
        return ""


@pytest.fixture
def sh(lab_home, no_leftovers):
    s = Shell(str(lab_home))
    yield s
    r = s("lab", "down", "--name", "walk", ok=False)
    assert r.returncode == 0 or "no lab named" in r.stderr, r.stderr
    no_leftovers(lab_home)


@pytest.mark.slow
def test_course_walkthrough_with_the_cli(sh):
    # docker-machine create node1 node2 node3
    sh("lab", "up", "--name", "walk", "--nodes", "3")
    # @node1$ docker swarm init
    out = sh("swarm", "init", node="node1").stdout
    assert "Swarm initialized: current node (" in out and ") is now a manager." in out
    join = re.search(r"swarmlab swarm join --token (\S+) (\S+)", out)
    assert join, out
    token, remote = join.group(1), join.group(2)
    # @node2$ docker swarm join --token WRONG ...: refused
    bad = sh("swarm", "join", "--token", token[:-5] + "xxxxx", remote, node="node2", ok=False)
    assert bad.returncode != 0 and "join token" in bad.stderr.lower()
    # @node2$ / @node3$ docker swarm join --token ... node1:2377
    for n in ("node2", "node3"):
        assert "This node joined a swarm as a worker." in sh("swarm", "join", "--token", token,
                                                             remote, node=n).stdout
    # @node1$ docker node ls
    ls = sh("node", "ls", node="node1").stdout
    assert ls.splitlines()[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER",
                                          "STATUS", "ENGINE", "VERSION"]
    line1 = next(line for line in ls.splitlines() if " node1 " in line)
    assert " * " in line1 and "Leader" in line1
    # @node3$ docker node promote node2  -> refused by a worker
    r = sh("node", "promote", "node2", node="node3", ok=False)
    assert r.returncode == 1 and WORKER_MSG in r.stderr.replace("\n", " ")
    # @node1$ docker node promote node2 node3
    out = sh("node", "promote", "node2", "node3", node="node1").stdout
    assert "Node node2 promoted to a manager in the swarm." in out
    sh.wait(lambda: sum(1 for s in json.loads(sh("raft", "status", "--format", "json").stdout)
                        if s.get("State") in ("leader", "follower")) == 3, 30, "3 managers")
    # @node1$ docker node demote node1: another manager leads at once
    assert "Manager node1 demoted in the swarm." in sh("node", "demote", "node1", node="node1").stdout
    sh.wait(lambda: any(s.get("State") == "leader" and s["Node"] != "node1"
                        for s in json.loads(sh("raft", "status", "--format", "json").stdout)),
            15, "a new leader")
    # @node2$ docker node promote node1 (three managers again)
    sh("node", "promote", "node1", node="node2")
    # availability pause / drain / active, and labels
    for a in ("pause", "drain", "active"):
        sh("node", "update", "--availability", a, "node3", node="node2")
        spec = json.loads(sh("node", "inspect", "-f", "{{ json .Spec }}", "node3", node="node2").stdout)
        assert spec["Availability"] == a
    sh("node", "update", "--label-add", "Memcached=true", "node1", node="node2")
    labels = json.loads(sh("node", "inspect", "-f", "{{ json .Spec.Labels }}", "node1").stdout)
    assert labels == {"Memcached": "true"}
    # docker service create --name www -p 8080:80 --replicas 3 nginx
    sh("service", "create", "--name", "www", "-p", "8080:80", "--replicas", "3", "swarmlab/web:1")
    assert "3/3" in sh("service", "ls").stdout
    lab_nodes = [f"node{i}" for i in (1, 2, 3)]
    addrs = {n: json.loads(sh("node", "inspect", n).stdout)[0]["Status"]["Addr"].split(":")[0]
             for n in lab_nodes}
    for n, a in addrs.items():  # the routing mesh answers on every node
        assert "web v1" in sh.wait(lambda: http(a, 8080), 15, f"port 8080 on {n}")
    # docker service scale www=1
    assert "www scaled to 1" in sh("service", "scale", "www=1").stdout
    sh.wait(lambda: "1/1" in sh("service", "ls").stdout, 20, "www at 1/1")
    # rolling update: --update-parallelism 2 --update-delay 1s, then --image
    sh("service", "create", "--name", "vote", "--replicas", "4", "--update-parallelism", "2",
       "--update-delay", "1s", "-p", "8081:80", "swarmlab/web:1")
    sh("service", "update", "--image", "swarmlab/web:2", "vote", timeout=120)
    spec = json.loads(sh("service", "inspect", "vote").stdout)[0]
    assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "swarmlab/web:2"
    assert spec["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "swarmlab/web:1"
    assert "web v2" in sh.wait(lambda: http(addrs["node1"], 8081), 15, "vote v2")
    # docker service rollback vote
    sh("service", "rollback", "vote", timeout=120)
    sh.wait(lambda: "web v1" in http(addrs["node2"], 8081), 30, "vote back to v1")
    # docker service rm vote
    assert "vote" in sh("service", "rm", "vote").stdout
    # kill the leader: another one is elected and www keeps running
    leader = next(s["Node"] for s in json.loads(sh("raft", "status", "--format", "json").stdout)
                  if s.get("State") == "leader")
    sh("lab", "kill", leader)
    sh.wait(lambda: any(s.get("State") == "leader" and s["Node"] != leader for s in json.loads(
        sh("raft", "status", "--format", "json").stdout)), 15, "a new leader")
    alive = next(n for n in lab_nodes if n != leader)
    assert "web v1" in sh.wait(lambda: http(addrs[alive], 8080), 20, "www after the failover")
    sh.wait(lambda: "1/1" in sh("service", "ls").stdout, 30, "www still at 1/1")
