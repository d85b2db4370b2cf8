"""The course's swarm walk-through, typed as `swarmlab` commands, on a real local lab
(node processes on 127.0.x.y, started by swarmlab.lab): init, join, node ls, promote
from a worker and a manager, demote, availability, labels, a published service,
scale, rolling update, rollback, a secret, rm, and the managers' Raft view."""
import contextlib
import io
import json
import sys
import time
import urllib.request

import pytest

from swarmlab.cli import main

pytestmark = pytest.mark.slow


def sh(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def ok(*argv: str, stdin: str = "") -> str:
    code, out, err = sh(*argv, stdin=stdin)
    assert code == 0, f"swarmlab {' '.join(argv)} -> {code}: {err}"
    return out


@pytest.fixture
def lab(tmp_path, monkeypatch):
    from swarmlab.lab import Lab

    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path))
    monkeypatch.setenv("SWARMLAB_LAB", "walk")
    monkeypatch.setenv("SWARMLAB_CONVERGE_TIMEOUT", "60")
    lab = Lab.up("walk", nodes=3)
    try:
        yield lab
    finally:
        lab.down()


def wait_for(predicate, timeout_s: float = 15.0) -> None:
    """What a student does: run the command again until the swarm has caught up."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_course_walkthrough(lab):
    addr = {n.name: n.addr for n in lab.record.nodes}
    out = ok("swarm", "init", "--advertise-addr", addr["node1"])
    assert out.startswith("Swarm initialized: current node (")
    assert f"    swarmlab swarm join --token SWMTKN-1-" in out
    token = ok("swarm", "join-token", "-q", "worker").strip()
    for node in ("node2", "node3"):
        assert ok("--node", node, "swarm", "join", "--token", token, f"{addr['node1']}:2377") == \
            "This node joined a swarm as a worker.\n"

    wait_for(lambda: ok("node", "ls", "--format", "{{.Status}}").split() == ["Ready"] * 3)
    rows = ok("node", "ls").splitlines()
    assert rows[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE", "VERSION"]
    assert rows[1].split()[1:5] == ["*", "node1", "Ready", "Active"] and "Leader" in rows[1]

    code, _, err = sh("--node", "node3", "node", "promote", "node2")
    assert code == 1 and err.startswith("Error response from daemon: This node is not a swarm manager.")
    assert ok("node", "promote", "node2") == "Node node2 promoted to a manager in the swarm.\n"
    wait_for(lambda: ok("node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}").splitlines()[1]
             == "node2 Reachable")
    raft = json.loads(ok("raft", "status", "--format", "json"))
    assert [(r["Node"], r["State"], r["Leader"]) for r in raft] == [
        ("node1", "leader", "node1"), ("node2", "follower", "node1")]
    wait_for(lambda: sh("--node", "node2", "node", "ls")[0] == 0)  # node2 serves as a manager
    assert ok("--node", "node2", "node", "demote", "node2") == "Manager node2 demoted in the swarm.\n"
    wait_for(lambda: ok("node", "ls", "--format", "{{.Hostname}}:{{.ManagerStatus}}").split()
             == ["node1:Leader", "node2:", "node3:"])

    for availability in ("pause", "drain", "active"):
        assert ok("node", "update", "--availability", availability, "node2") == "node2\n"
    assert json.loads(ok("node", "inspect", "-f", "{{ json .Spec }}", "node2")) == \
        {"Labels": {}, "Role": "worker", "Availability": "active"}
    ok("node", "update", "--label-add", "Memcached=true", "node1")
    assert json.loads(ok("node", "inspect", "-f", "{{ json .Spec.Labels }}", "node1")) == {"Memcached": "true"}

    out = ok("service", "create", "--name", "www", "-p", "8080:80", "--replicas", "3",
             "--update-monitor", "1s", "swarmlab/web:1")
    assert "overall progress: 3 out of 3 tasks" in out and out.endswith("converged\n")
    assert ok("service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Ports}}") == "www 3/3 *:8080->80/tcp\n"
    for node in ("node1", "node2", "node3"):
        assert "web v1" in get(f"http://{addr[node]}:8080/")
    assert ok("service", "scale", "www=1").startswith("www scaled to 1\n")
    assert len(ok("service", "ps", "-q", "-f", "desired-state=running", "www").split()) == 1

    out = ok("service", "update", "--update-parallelism", "2", "--update-delay", "1s",
             "--replicas", "3", "--image", "swarmlab/web:2", "www")
    assert out.endswith("verify: Service www converged\n")
    images = ok("service", "inspect", "-f",
                "{{.PreviousSpec.TaskTemplate.ContainerSpec.Image}} {{.Spec.TaskTemplate.ContainerSpec.Image}}",
                "www")
    assert images == "swarmlab/web:1 swarmlab/web:2\n"
    assert "web v2" in get(f"http://{addr['node3']}:8080/")
    ok("service", "rollback", "www")
    assert ok("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "www") == "swarmlab/web:1\n"

    ok("secret", "create", "password", "-", stdin="MyVaultPassword\n")
    ok("service", "create", "-d", "--name=api", "--secret=password", "swarmlab/web:1")
    assert "password" in ok("service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}", "api")
    ok("service", "update", "-d", "--secret-rm=password", "api")
    assert ok("service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}", "api") == "null\n"
    assert ok("service", "rm", "api", "www") == "api\nwww\n"
    assert ok("service", "ls", "-q") == ""

    raft = json.loads(ok("raft", "status", "--format", "json"))
    assert [r["Node"] for r in raft] == ["node1"] and raft[0]["State"] == "leader"
    assert raft[0]["Commit"] == raft[0]["Applied"] <= raft[0]["LastIndex"]
