"""The course's end-to-end examples on the docker backend, through the `swarmlab` command
as a learner types it: the secret example, the voting stack, and a replica's node killed.

One lab for the module (1 manager + 2 workers, each a Docker-in-Docker node running
swarmlab's agent, each task a container of the node's own dockerd); the tests run in file
order, each leaves the lab as it found it except the last (a node killed). The fixture
prunes the lab by label whatever happens and checks nothing is left.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

docker = pytest.importorskip("docker")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_mesh_failover_local import probe_answers, probe_service, settled_after  # noqa: E402

CONVERGE_S = 240  # tasks starting: generous, a CI machine may be shared and loaded
SECRET = f"s3cret-{secrets.token_hex(8)}"   # unique, so a hit on disk can only be a leak


def http(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def running(c, service: str) -> list[dict]:
    return [t for t in c.api.tasks(filters={"service": service})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


@pytest.fixture(scope="module")
def lab(docker_lab, tmp_path_factory):
    """A 1-manager + 2-worker docker-backend lab, pruned by label at the end."""
    with docker_lab(tmp_path_factory.mktemp("home"), "C", "course lab 1+2 up (docker backend)",
                    managers=1, workers=2) as lab:
        yield lab


@pytest.fixture
def tidy(lab):
    """Leave the lab as the test found it, also when the test fails half-way."""
    yield
    try:
        c = lab.client()
        for svc in c.api.services():
            c.api.remove_service(svc["ID"])
        for s in c.api.secrets():
            c.api.remove_secret(s["ID"])
        for cfg in c.api.configs():
            c.api.remove_config(cfg["ID"])
        for net in c.api.networks(filters={"label": "com.docker.stack.namespace"}):
            c.api.remove_network(net["Id"])
    except Exception as exc:  # noqa: BLE001 - a broken lab: the next test says so
        print(f"tidy: {exc}")


def sh(lab, line: str, timeout: float = 300) -> str:
    """A command line as the learner types it (`swarmlab ...`, pipes allowed), on this lab."""
    env = {**os.environ, "SWARMLAB_LAB": lab.name, "SWARMLAB_HOME": os.environ["SWARMLAB_HOME"]}
    done = subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{line}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def node_box(lab, docker_host, node: str):
    """The node's container on the host's engine."""
    return docker_host.containers.get(lab.record.node(node).container)


def in_node(lab, docker_host, node: str, *argv: str) -> tuple[int, str]:
    code, out = node_box(lab, docker_host, node).exec_run(list(argv))
    return code, out.decode(errors="replace")


def task_container(lab, docker_host, task: dict) -> tuple[str, str]:
    """(node, container id) of a task, from the node's own dockerd."""
    c = lab.client()
    node = c.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
    code, out = in_node(lab, docker_host, node, "docker", "ps", "-q", "--filter",
                        f"label=com.docker.swarm.task.id={task['ID']}")
    assert code == 0 and out.strip(), out
    return node, out.split()[0]


# What a node wrote on its disk since it started (its root filesystem, never a tmpfs:
# `-xdev`), the files of its dockerd's containers (config, logs) and their writable layers.
ON_DISK = r"""
{ find / -xdev -type f -newer /etc/hostname 2>/dev/null
  ids=$(docker ps -aq)
  [ -n "$ids" ] && docker inspect -f '{{.GraphDriver.Data.UpperDir}}' $ids | xargs -r -I{} find {} -type f
  find /var/lib/docker/containers /var/lib/docker/volumes -type f 2>/dev/null
} | xargs -r -d '\n' grep -lsF "$@" --
"""


def needles(value: bytes) -> list[str]:
    """The secret and its base64 (as typed, with echo's newline, and without)."""
    text = value.decode().strip()
    return [text, base64.b64encode(value).decode(), base64.b64encode(text.encode()).decode()]


def found_on_disk(lab, docker_host, value: bytes) -> dict[str, list[str]]:
    """node -> files holding the secret or its base64, on disk in each node container and
    in its log on the host engine."""
    hits: dict[str, list[str]] = {}
    args = [a for n in needles(value) for a in ("-e", n)]
    for node in lab.nodes:
        box = node_box(lab, docker_host, node)
        box.reload()
        if box.status != "running":
            continue
        code, out = in_node(lab, docker_host, node, "sh", "-c", ON_DISK, "sh", *args)
        files = out.split()
        logs = box.logs()
        if any(n.encode() in logs for n in needles(value)):
            files.append("<the node container's log>")
        if files:
            hits[node] = files
    return hits


def in_memory(lab, docker_host, node: str, value: bytes) -> list[str]:
    """The node's tmpfs views (where a task's secrets live while it needs them)."""
    args = [a for n in needles(value) for a in ("-e", n)]
    code, out = in_node(lab, docker_host, node, "grep", "-rlsF", *args, "--",
                        "/run/swarmlab", "/dev/shm")
    return out.split()


def test_secret_example_through_the_cli(lab, docker_host, measure, tidy):
    started = time.monotonic()
    value = (SECRET + "\n").encode()
    # $ echo s3cret | docker secret create password -
    secret_id = sh(lab, f"echo {SECRET} | swarmlab secret create password -").strip()
    assert len(secret_id) == 25
    assert "Data" not in json.loads(sh(lab, "swarmlab secret inspect password"))[0]["Spec"]
    # $ docker service create --name=api --secret=password ...
    # (-d: the test waits itself, longer than the CLI's 120 s on a loaded machine)
    sh(lab, "swarmlab service create -d --name=api --secret=password --constraint "
            "node.hostname==node3 -p 8090:80 swarmlab/web:1")
    c = lab.client()
    task = lab.wait_for(lambda: (r := running(c, "api")) and r[0], CONVERGE_S, "api running")
    node, box = task_container(lab, docker_host, task)
    assert node == "node3"

    # the task reads /run/secrets/password: a read-only tmpfs mount in its container
    code, out = in_node(lab, docker_host, node, "docker", "exec", box, "cat", "/run/secrets/password")
    assert (code, out) == (0, value.decode())
    code, out = in_node(lab, docker_host, node, "docker", "exec", box, "sh", "-c",
                        "grep ' /run/secrets/password ' /proc/self/mountinfo")
    assert code == 0 and " ro," in out and " - tmpfs " in out, out
    code, out = in_node(lab, docker_host, node, "docker", "exec", box, "sh", "-c",
                        "echo x > /run/secrets/password")
    assert code != 0 and "Read-only file system" in out, out
    # and the service serves it, through the routing mesh of any node
    for n in lab.record.nodes:
        assert lab.wait_for(lambda: http(f"http://{n.addr}:8090/secret/password")[1] == value.decode(),
                            20, f"the secret through {n.name}'s published port")

    # on no node's disk or log, and never delivered to a node running no task that uses it
    searched = time.monotonic()
    assert found_on_disk(lab, docker_host, value) == {}
    measure("secret searched on 3 nodes' disks and logs", f"{time.monotonic() - searched:.1f}s")
    _search_finds_a_canary(lab, docker_host, box)
    assert in_memory(lab, docker_host, "node1", value) == []
    assert in_memory(lab, docker_host, "node2", value) == []

    # $ docker service update --secret-rm=password api: the new task can no longer read it
    sh(lab, "swarmlab service update -d --secret-rm=password api")
    new = lab.wait_for(lambda: (r := running(c, "api")) and r[0]["ID"] != task["ID"] and r[0],
                       CONVERGE_S, "the updated api task")
    assert not new["Spec"]["ContainerSpec"].get("Secrets")
    node, box = task_container(lab, docker_host, new)
    code, out = in_node(lab, docker_host, node, "docker", "exec", box, "cat", "/run/secrets/password")
    assert code != 0 and "No such file or directory" in out, out
    assert lab.wait_for(lambda: http(f"http://{lab.record.nodes[0].addr}:8090/secret/password")[0] == 404,
                        20, "the secret gone from the served task")
    # the node no longer holds it: no task there needs it any more
    lab.wait_for(lambda: in_memory(lab, docker_host, "node3", value) == [], 30,
                 "the secret removed from node3's tmpfs")

    # $ docker service rm api; docker secret rm password
    sh(lab, "swarmlab service rm api")
    assert sh(lab, "swarmlab secret rm password").strip() == "password"
    assert found_on_disk(lab, docker_host, value) == {}
    lab.wait_for(lambda: not any(_task_containers(lab, docker_host, n, "api") for n in lab.nodes), 60,
                 "the api containers removed")
    measure("secret example through the CLI (docker backend)", f"{time.monotonic() - started:.1f}s")


def _search_finds_a_canary(lab, docker_host, box: str) -> None:
    """The disk search sees what a node writes and what a task container writes."""
    canary = f"canary-{secrets.token_hex(8)}\n".encode()
    assert in_node(lab, docker_host, "node1", "sh", "-c",
                   f"printf {canary.decode().strip()} > /var/lib/swarmlab/canary")[0] == 0
    assert in_node(lab, docker_host, "node3", "docker", "exec", box, "sh", "-c",
                   f"echo {canary.decode().strip()} | base64 > /tmp/canary")[0] == 0
    hits = found_on_disk(lab, docker_host, canary)
    try:
        assert set(hits) == {"node1", "node3"}, hits
        assert hits["node1"] == ["/var/lib/swarmlab/canary"], hits
        assert len(hits["node3"]) == 1 and hits["node3"][0].endswith("/diff/tmp/canary"), hits
    finally:
        in_node(lab, docker_host, "node1", "rm", "-f", "/var/lib/swarmlab/canary")


def _task_containers(lab, docker_host, node: str, service_prefix: str) -> list[str]:
    """Task containers in the node's own dockerd whose service name starts with the prefix."""
    code, out = in_node(lab, docker_host, node, "docker", "ps", "-a", "--format",
                        '{{.Label "com.docker.swarm.service.name"}} {{.Names}}')
    return [line for line in out.splitlines() if line.startswith(service_prefix)]


def _stack_converged(c) -> bool:
    services = c.api.services(filters={"label": "com.docker.stack.namespace=vote"})
    return len(services) == 4 and all(
        len(running(c, s["Spec"]["Name"])) == s["Spec"]["Mode"]["Replicated"]["Replicas"]
        for s in services)


def test_vote_stack_through_every_node(lab, docker_host, measure, tidy):
    from swarmlab import stack
    started = time.monotonic()
    # $ docker stack deploy -c docker-stack.yml vote
    out = sh(lab, f"swarmlab stack deploy -c {stack.sample_path('vote')} vote")
    assert "Creating service vote_vote" in out
    c = lab.client()
    lab.wait_for(lambda: _stack_converged(c), CONVERGE_S, "the vote stack to converge")
    measure("vote stack converged (docker backend)", f"{time.monotonic() - started:.1f}s")
    for name in ("vote_kv", "vote_vote", "vote_result", "vote_worker"):  # why slow, if it was
        for t in c.api.tasks(filters={"service": name}):
            if t["Status"]["State"] != "running":
                print("vote task", name, t["Status"]["State"], t["Status"].get("Err") or "",
                      t["CreatedAt"], t["Status"]["Timestamp"])
    assert sh(lab, "swarmlab stack ls").splitlines()[1].split()[:2] == ["vote", "4"]

    # a vote sent to the published port of every node is counted (the front end finds the
    # store by its service name, `kv`: the VIP of the node running the front end's task)
    votes = {"node1": "a", "node2": "b", "node3": "a"}
    for n in lab.record.nodes:
        status, page = lab.wait_for(
            lambda: (r := http(f"http://{n.addr}:5000/", f"vote={votes[n.name]}".encode()))[0] == 200
            and r, 30, f"a vote through {n.name}")
        assert f"you voted for {'Cats' if votes[n.name] == 'a' else 'Dogs'}" in page
    want = {"a": 2, "b": 1, "total": 3}
    for n in lab.record.nodes:  # and shows on the result page, through every node
        lab.wait_for(lambda: (r := http(f"http://{n.addr}:5001/json"))[0] == 200
                     and json.loads(r[1]) == want, 30, f"the counts through {n.name}")
        status, page = http(f"http://{n.addr}:5001/")
        assert status == 200 and "Cats: 67%" in page and "3 votes" in page, page

    # $ docker stack rm vote: nothing left, in the swarm or in any node's dockerd
    sh(lab, "swarmlab stack rm vote")
    label = {"label": "com.docker.stack.namespace=vote"}
    assert not c.api.services(filters=label) and not c.api.secrets(filters=label)
    assert not c.api.configs(filters=label)
    assert not [n for n in c.api.networks() if n["Name"].startswith("vote_")]
    lab.wait_for(lambda: not [t for t in c.api.tasks() if t["ServiceID"] and
                              t["DesiredState"] == "running"], 60, "the stack's tasks to go")
    lab.wait_for(lambda: not any(_task_containers(lab, docker_host, n, "vote_") for n in lab.nodes),
                 60, "the stack's containers removed from every node")
    for n in lab.record.nodes:
        code, out = in_node(lab, docker_host, n.name, "docker", "network", "ls", "--format", "{{.Name}}")
        assert sorted(out.split()) == ["bridge", "host", "none"], out  # tasks use the default bridge
        lab.wait_for(lambda: http(f"http://{n.addr}:5000/")[0] == 0, 20,
                     f"port 5000 closed on {n.name}")
    assert len(sh(lab, "swarmlab stack ls").splitlines()) == 1  # the header alone
    measure("vote stack deploy, 3 votes, rm (docker backend)", f"{time.monotonic() - started:.1f}s")


def test_killed_replica_node_leaves_the_service_name(lab, docker_host, measure):
    """A task of another service reaches `web` by name (its VIP in the node, through the
    container's gateway); node3, running a replica, is killed; the name stops leading to
    it within seconds, and the service returns to its replica count."""
    c = lab.client()
    c.services.create("swarmlab/web:1", name="web", mode=docker.types.ServiceMode("replicated", replicas=2),
                      constraints=["node.role==worker"],
                      endpoint_spec=docker.types.EndpointSpec(ports={8070: 80}))
    probe_service(c, "probe", "web", ["node.role==manager"])
    lab.wait_for(lambda: len(running(c, "web")) == 2 and running(c, "probe"), CONVERGE_S,
                 "2 web replicas, one per worker, and the probe")
    lab.wait_for(lambda: {who for _, who, _ in probe_answers(c, "probe")} >= {"node2", "node3"}, 30,
                 lambda: f"the name `web` to spread over both workers: {probe_answers(c, 'probe')[-5:]}")
    entry = lab.record.node("node1").addr
    killed_at = time.time()
    lab.kill("node3")
    by_name = lab.wait_for(lambda: settled_after([(t, w) for t, w, _ in probe_answers(c, "probe")],
                                                 killed_at, "node3"),
                           30, "the name `web` to stop leading to the dead node")
    assert by_name < 10, f"the name `web` kept leading to the dead node for {by_name:.1f}s"
    assert all("node=node2" in http(f"http://{entry}:8070/")[1] for _ in range(10))
    lab.wait_for(lambda: len(running(c, "web")) == 2 and all(
        c.api.inspect_node(t["NodeID"])["Description"]["Hostname"] != "node3"
        for t in running(c, "web")), CONVERGE_S, "web back at 2 replicas without node3")
    recovered = time.time() - killed_at
    tasks = {t["ID"] for t in running(c, "web")}
    since = time.time()
    lab.wait_for(lambda: {task.rsplit(".", 1)[-1] for t, who, task in probe_answers(c, "probe")
                          if t > since} >= tasks, 30, "the name `web` to reach both live replicas")
    assert {who for t, who, _ in probe_answers(c, "probe") if t > since} == {"node2"}
    measure("killed node: service name clean / replicas back (docker backend)",
            f"{by_name:.1f}s / {recovered:.1f}s")
