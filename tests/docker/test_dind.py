"""Docker-in-Docker nodes: images, parallel start, a task reachable from the host,
an iptables partition between nodes, and prune leaving nothing behind."""
from __future__ import annotations

import time
import urllib.request

import pytest

# A cold image build (debootstrap) runs inside the first test's setup: minutes, not seconds.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

WEB_PORT = 8080


def http_get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_until(check, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(interval)


def run_web(node):
    """Run swarmlab/web:1 on the node's own dockerd, publishing port 8080 (once per node)."""
    client = node.client()
    name = f"web.{node.name}"
    running = client.containers.list(filters={"name": name})
    if running:
        return running[0]
    return client.containers.run(
        "swarmlab/web:1", name=name, detach=True, ports={"80/tcp": WEB_PORT},
        environment={"SWARMLAB_TASK_NAME": name, "SWARMLAB_NODE": node.name})


def test_images_are_cached_and_run(images, docker_host, lab_pruner, measure):
    from swarmlab.images import build_all
    started = time.monotonic()
    report = build_all(progress=lambda line: None)
    elapsed = time.monotonic() - started
    measure("image build, nothing changed", f"{elapsed:.1f}s (rebuilt: {report.built})")
    # Only the node image carries the whole swarmlab package: it is rebuilt (in seconds)
    # when someone changed the code meanwhile; everything else must come from the cache.
    assert set(report.built) <= {"swarmlab/node:latest"} and elapsed < 30
    size = docker_host.images.get("swarmlab/web:1").attrs["Size"] / 2**20
    node_size = docker_host.images.get("swarmlab/node:latest").attrs["Size"] / 2**20
    measure("image sizes", f"swarmlab/web:1 {size:.0f} MB, swarmlab/node {node_size:.0f} MB")
    # The workload image runs on the host's own engine too, with its health check.
    lab = lab_pruner("i")
    container = docker_host.containers.run("swarmlab/web:2", detach=True,
                                           labels={"swarmlab.lab": lab})
    container.reload()
    address = container.attrs["NetworkSettings"]["IPAddress"]
    assert wait_until(lambda: http_get(f"http://{address}/")).startswith("web v2 task=")

    def health():
        container.reload()
        return container.attrs["State"]["Health"]["Status"] == "healthy"
    wait_until(health, timeout=20)


def test_a_workload_stopped_while_it_starts_exits_at_once(images, docker_host, lab_pruner, measure):
    """`docker stop` right after `docker run`: the workload is still importing, before its
    own SIGTERM handler. Its PID 1 (tini) passes the signal on, so the stop takes
    milliseconds, not the 10 s grace period that a PID 1 without a handler costs."""
    lab = lab_pruner("t")
    took = []
    for _ in range(3):
        container = docker_host.containers.run("swarmlab/web:1", detach=True,
                                               labels={"swarmlab.lab": lab})
        t0 = time.monotonic()
        container.stop(timeout=10)
        took.append(time.monotonic() - t0)
        container.reload()
        assert container.attrs["State"]["ExitCode"] in (0, 143)  # SIGTERM, not SIGKILL (137)
        container.remove()
    measure("docker stop right after start", ", ".join(f"{t:.2f}s" for t in took))
    assert max(took) < 5, took


def test_nodes_are_dind_hosts_named_and_labelled(two_nodes):
    for node in two_nodes:
        wrapped = node.container.get_wrapped_container()
        assert wrapped.attrs["Config"]["Hostname"] == node.name
        assert wrapped.labels["swarmlab.lab"] == node.lab
        code, out = node.exec("docker", "info", "--format", "{{.Driver}} {{.CgroupVersion}}")
        assert code == 0
        assert out.split()[0] == "overlay2"     # the volume on /var/lib/docker, not vfs
        assert node.client().info()["Name"] == node.name


def test_web_task_in_a_node_answers_from_the_host(two_nodes, measure):
    node = two_nodes[0]
    task = run_web(node)
    text = wait_until(lambda: http_get(f"http://{node.address}:{WEB_PORT}/"), timeout=30)
    assert text.startswith(f"web v1 task=web.{node.name} node={node.name} host=")

    def healthy():
        task.reload()
        return task.attrs["State"]["Health"]["Status"] == "healthy"
    wait_until(healthy, timeout=20)
    memory = node.container.get_wrapped_container().stats(stream=False)["memory_stats"]
    # As `docker stats` shows it: usage minus the page cache that could be dropped.
    used = memory["usage"] - memory.get("stats", {}).get("total_inactive_file", 0)
    measure("memory of a node with dockerd and one web task",
            f"{used / 2**20:.0f} MiB (cgroup usage with page cache {memory['usage'] / 2**20:.0f} MiB)")


def test_voting_stack_in_a_node_finds_the_store_by_name(two_nodes):
    """kv, worker, vote and result as containers of one node, on a user network."""
    import json
    node = two_nodes[1]
    client = node.client()
    client.networks.create("votenet")
    run = {"network": "votenet", "detach": True}
    client.containers.run("swarmlab/kv:1", name="kv", mem_limit="64m", **run)
    client.containers.run("swarmlab/worker:1", name="worker", **run)
    client.containers.run("swarmlab/vote:1", name="vote", ports={"80/tcp": 5000}, **run)
    client.containers.run("swarmlab/result:1", name="result", ports={"80/tcp": 5001}, **run)
    vote = urllib.request.Request(f"http://{node.address}:5000/", data=b"vote=b", method="POST")
    assert wait_until(lambda: urllib.request.urlopen(vote, timeout=3).status == 200)
    result = f"http://{node.address}:5001/json"
    assert wait_until(lambda: json.loads(http_get(result))["b"] == 1)
    assert "connected to kv store kv:80" in client.containers.get("worker").logs().decode()
    # The limit is a real cgroup of the node's dockerd: the cgroup fix-up made that possible.
    stats = client.containers.get("kv").stats(stream=False)
    assert stats["memory_stats"]["limit"] == 64 * 2**20


def node_fetch(node, url: str) -> int:
    """GET ``url`` from inside ``node``; the exit status (0 = answered)."""
    code, _ = node.exec("python3", "-c",
                        f"import urllib.request; urllib.request.urlopen('{url}', timeout=2)")
    return code


def test_iptables_partition_cuts_and_heals(two_nodes):
    one, two = two_nodes
    run_web(one)
    run_web(two)
    to_two, to_one = f"http://{two.address}:{WEB_PORT}/", f"http://{one.address}:{WEB_PORT}/"
    wait_until(lambda: node_fetch(one, to_two) == 0, timeout=30)
    wait_until(lambda: node_fetch(two, to_one) == 0, timeout=30)

    from swarmlab.lab.dind.faults import cut, heal
    cut(one, [two])                                   # rules on node1 only
    try:
        assert node_fetch(one, to_two) != 0           # node1 -> node2 cut
        assert node_fetch(two, to_one) != 0           # node2 -> node1 (published port) cut
        assert http_get(to_one).startswith("web v1")  # the host still reaches node1
        code, rules = one.exec("iptables", "-t", "raw", "-S", "SWARMLAB-PARTITION")
        assert code == 0 and f"-s {two.address}/32 -j DROP" in rules
    finally:
        heal(one)
    assert node_fetch(one, to_two) == 0
    assert node_fetch(two, to_one) == 0


def test_dev_code_mount_and_prune(images, lab_pruner, docker_host, measure):
    from swarmlab.lab.dind import leftovers, prune, start_nodes
    from swarmlab.images import NODE_RUNTIME_IMAGE
    lab = lab_pruner("d")
    started = time.monotonic()
    (node,) = start_nodes(lab, ["dev1"], dev_code=True)
    measure("one node start (dev code mount)", f"{time.monotonic() - started:.1f}s")
    assert node.container.image == NODE_RUNTIME_IMAGE     # no code in the image...
    code, out = node.exec("python3", "-c", "import swarmlab.workloads.catalog as c; "
                          "print(c.__file__, len(c.CATALOG))")
    assert code == 0 and out.startswith("/opt/swarmlab/swarmlab/")   # ...it is mounted
    assert leftovers(lab)["containers"] == [f"swarmlab-{lab}-dev1"]
    removed = prune(lab)
    assert removed == {"containers": 1, "networks": 1, "volumes": 1}
    assert leftovers(lab) == {"containers": [], "networks": [], "volumes": []}


CHILD = """
import os, signal, sys
from swarmlab.lab.dind import start_nodes
start_nodes(sys.argv[1], ["n1"])
print("up", flush=True)
if sys.argv[2] == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_nodes_are_pruned_at_exit_and_after_a_crash(images, lab_pruner):
    import subprocess
    import sys
    from pathlib import Path

    from swarmlab.lab.dind import leftovers, prune
    root = str(Path(__file__).resolve().parents[2])
    nothing = {"containers": [], "networks": [], "volumes": []}
    lab = lab_pruner("x")
    done = subprocess.run([sys.executable, "-c", CHILD, lab, "exit"], cwd=root, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "up" in done.stdout, done.stderr
    assert leftovers(lab) == nothing                 # pruned by the atexit hook
    crashed = subprocess.run([sys.executable, "-c", CHILD, lab, "crash"], cwd=root,
                             timeout=120, capture_output=True, text=True)
    assert crashed.returncode == -9 and "up" in crashed.stdout, crashed.stderr
    assert leftovers(lab)["containers"] == [f"swarmlab-{lab}-n1"]   # a crash leaves it...
    prune(lab)
    assert leftovers(lab) == nothing                 # ...and prune finds it by label
