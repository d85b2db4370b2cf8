"""A replica's node is killed: the routing mesh and service names stop sending to it within a
few seconds, and the service returns to its replica count (real node processes).

Two clients watch the service `web` while node3, which runs one of its replicas, is killed:
the test itself through the published port of a node that runs no replica (the routing
mesh), and a task of another service, `probe`, which asks for `http://web/` by service name
(its VIP, as a task of a stack finds another service) and logs which node answered.
"""
from __future__ import annotations

import os
import time
import urllib.request

import docker
import pytest

from swarmlab.lab import Lab

# A task of another service: asks for the service by name, logs `<time> <node> <task>`
# (`<time> error:<what> -` when no answer came).
# Bounded: 0.1 s apart, for at most PROBE_S seconds, then it exits.
PROBE = """
import time, urllib.request
end = time.time() + {seconds}
while time.time() < end:
    t = time.time()
    try:
        body = urllib.request.urlopen("http://{name}/", timeout=2).read().decode()
        who = body.split("node=")[1].split()[0] + " " + body.split("task=")[1].split()[0]
    except Exception as e:
        who = "error:" + type(e).__name__ + " -"
    print(f"{{t:.3f}} {{who}}", flush=True)
    time.sleep(0.1)
"""
PROBE_S = 150


def running(c, name):
    return [t for t in c.api.tasks(filters={"service": name})
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]


def hit(addr: str, port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://{addr}:{port}/", timeout=2) as r:
            return r.read().decode()
    except OSError as e:
        return f"error: {e}"


def probe_service(c, name: str, target: str, constraints: list[str]):
    """`probe`: a task that reaches service `target` by name (docs/mesh.md)."""
    return c.services.create(
        "swarmlab/worker:1", name=name, constraints=constraints,
        command=["python3", "-c", PROBE.format(seconds=PROBE_S, name=target)],
        restart_policy=docker.types.RestartPolicy(condition="none"))


def probe_answers(c, name: str) -> list[tuple[float, str, str]]:
    """The probe's log: (time, node that answered or `error:...`, task that answered)."""
    raw = b"".join(c.api.service_logs(name, stdout=True, stderr=True, follow=False))
    out = []
    for line in raw.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            try:
                out.append((float(parts[-3]), parts[-2], parts[-1]))
            except ValueError:
                continue
    return out


def probe_lines(c, name: str) -> list[tuple[float, str]]:
    return [(t, who) for t, who, _ in probe_answers(c, name)]


def settled_after(lines: list[tuple[float, str]], killed_at: float, dead: str,
                  streak: int = 10) -> float | None:
    """Seconds from the kill to the start of `streak` answers in a row after it, none from
    `dead` and none an error, with no answer from `dead` after them; None if not yet."""
    after = [(t, who) for t, who in lines if t >= killed_at]
    last_bad = max((i for i, (_, who) in enumerate(after) if who == dead or who.startswith("error")),
                   default=-1)
    good = after[last_bad + 1:]
    return good[0][0] - killed_at if len(good) >= streak else None


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="names reach tasks through a mount namespace")
def test_killed_replica_node_leaves_the_mesh_and_the_service_recovers(lab_factory):
    lab: Lab = lab_factory("meshkill", managers=1, workers=3)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="web", endpoint_spec=docker.types.EndpointSpec(
        ports={8070: 80}), mode=docker.types.ServiceMode("replicated", replicas=3),
        constraints=["node.role==worker"])
    probe_service(c, "probe", "web", ["node.role==manager"])
    lab.wait_for(lambda: len(running(c, "web")) == 3 and running(c, "probe"), 40,
                 "3 replicas, one per worker, and the probe")
    entry = lab.record.node("node1").addr  # a node that runs no replica
    workers = {"node2", "node3", "node4"}
    lab.wait_for(lambda: {hit(entry, 8070).split("node=")[-1].split()[0]
                          for _ in range(9)} >= workers, 20,
                 "the mesh to spread over the three workers")
    lab.wait_for(lambda: {who for _, who in probe_lines(c, "probe")} >= workers, 20,
                 "the name `web` to spread over the three workers")
    killed_at = time.time()
    lab.kill("node3")
    t0 = time.monotonic()

    def clean() -> bool:  # ten answers in a row, none from node3, no error
        answers = [hit(entry, 8070) for _ in range(10)]
        return all("web v1" in a and "node=node3" not in a for a in answers)
    lab.wait_for(clean, 15, "the mesh to stop sending to the dead node")
    settled = time.monotonic() - t0
    assert settled < 10, f"the mesh kept the dead node's task for {settled:.1f}s"
    by_name = lab.wait_for(lambda: settled_after(probe_lines(c, "probe"), killed_at, "node3"),
                           20, "the name `web` to stop leading to the dead node")
    print(f"mesh clean after {settled:.1f}s, the service name after {by_name:.1f}s")
    assert by_name < 10, f"the name `web` kept leading to the dead node for {by_name:.1f}s"
    lab.wait_for(lambda: len(running(c, "web")) == 3 and all(
        t["NodeID"] != _node_id(c, "node3") for t in running(c, "web")), 40,
        "the service back at 3 replicas without node3")
    # and the name reaches every replica again, the new one too, and never node3
    tasks = {t["ID"] for t in running(c, "web")}
    since = time.time()

    def seen() -> list[tuple[str, str]]:
        return [(who, task) for t, who, task in probe_answers(c, "probe") if t > since]
    lab.wait_for(lambda: {task.rsplit(".", 1)[-1] for _, task in seen()} >= tasks, 20,
                 "the name `web` to answer from the three live replicas")
    assert all(who in ("node2", "node4") for who, _ in seen()), seen()


def _node_id(c, hostname: str) -> str:
    return next(n["ID"] for n in c.api.nodes() if n["Description"]["Hostname"] == hostname)
