"""Two parts of swarmkit's task life cycle, on real node processes (local backend).

- A task desired `ready` is placed and prepared at once, and started only when it is
  desired `running`: a replacement waiting out its restart delay shows `ready` on its
  node (as `docker service ps` shows "Ready"), then runs.
- A task behind the routing mesh leaves every node's mesh before it is stopped (dockerd
  waits 2 s after it takes a task out of the load balancer; the `lab` profile 0.5 s):
  a rolling update of a published service drops no request sent through the mesh.
"""
from __future__ import annotations

import threading
import time
import urllib.request

import docker
import pytest


def tasks(c, name):
    return c.api.tasks(filters={"service": name})


def running(c, name, image=None):
    return [t for t in tasks(c, name)
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"
            and (image is None or t["Spec"]["ContainerSpec"]["Image"] == image)]


def test_a_restart_waits_prepared_on_its_node(lab_factory):
    lab = lab_factory("ready", managers=1, workers=1)
    c = lab.client()
    # exits after 1 s; restarted after a 4 s delay (the replacement is desired `ready` meanwhile)
    c.services.create("swarmlab/worker:1", name="blink",
                      command=["python3", "-c", "import time; time.sleep(1); raise SystemExit(3)"],
                      restart_policy=docker.types.RestartPolicy(condition="on-failure",
                                                                delay=4_000_000_000))
    waiting = lab.wait_for(lambda: [t for t in tasks(c, "blink") if t["DesiredState"] == "ready"
                                and t["Status"]["State"] == "ready"], 30,
                       "a replacement prepared while its restart delay runs")[0]
    assert waiting["NodeID"], "placed on a node while desired ready"
    failed = [t for t in tasks(c, "blink") if t["Status"]["State"] == "failed"]
    assert failed and failed[0]["Slot"] == waiting["Slot"]
    # still only prepared a moment later: the delay holds it back
    time.sleep(1.0)
    again = [t for t in tasks(c, "blink") if t["ID"] == waiting["ID"]][0]
    assert again["DesiredState"] == "ready" and again["Status"]["State"] == "ready"
    ran = lab.wait_for(lambda: [t for t in tasks(c, "blink") if t["ID"] == waiting["ID"]
                            and t["Status"]["State"] in ("running", "failed")], 30,
                   "the replacement started after its delay")[0]
    assert ran["DesiredState"] in ("running", "shutdown")


@pytest.mark.slow
def test_a_rolling_update_of_a_published_service_drops_no_request(lab_factory):
    lab = lab_factory("drain", managers=1, workers=2)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="www", mode={"replicated": {"Replicas": 3}},
                      endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    lab.wait_for(lambda: len(running(c, "www")) == 3, 60, "3 replicas")
    addr = lab.record.node("node1").addr
    lab.wait_for(lambda: _get(addr) is None, 30, "the published port answering")

    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def client() -> None:  # bounded: ends with the update, or after 120 s
        end = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < end:
            err = _get(addr)
            if err:
                failures.append(err)
            else:
                answered[0] += 1
            time.sleep(0.02)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        c.services.get("www").update(image="swarmlab/web:2",
                                     update_config=docker.types.UpdateConfig(parallelism=1))
        lab.wait_for(lambda: len(running(c, "www", "swarmlab/web:2")) == 3
                 and (c.services.get("www").attrs.get("UpdateStatus") or {}).get("State")
                 == "completed", 120, "the rolling update")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert answered[0] > 50, f"too few requests went through: {answered[0]}"
    assert not failures, f"{len(failures)} of {answered[0] + len(failures)} requests failed: {failures[:5]}"


def _get(addr: str) -> str | None:
    """None if `GET /` on the published port answered with the web page, else what went wrong."""
    try:
        with urllib.request.urlopen(f"http://{addr}:8080/", timeout=5) as r:
            body = r.read().decode()
        return None if "web" in body else f"unexpected answer {body[:60]!r}"
    except Exception as e:  # noqa: BLE001 - every kind of failure counts
        return f"{type(e).__name__}: {e}"


def test_a_service_removed_during_its_converge_delay_leaves_nothing_on_its_nodes(lab_factory):
    """`service rm` of a published service: its tasks are desired shutdown (each waits the
    converge delay, out of the mesh), then deleted from the store; `docker info` of every
    node ends with no task held, running or stopped. (The race where the deletion comes
    while the stop call still runs is pinned in tests/runtime/test_worker_reconcile.py.)"""
    lab = lab_factory("rm", managers=1, workers=1)
    c = lab.client()
    c.services.create("swarmlab/web:1", name="www", mode={"replicated": {"Replicas": 4}},
                      endpoint_spec=docker.types.EndpointSpec(ports={8080: 80}))
    lab.wait_for(lambda: len(running(c, "www")) == 4, 60, "4 replicas")
    assert sum(lab.client(n).info()["ContainersRunning"] for n in lab.nodes) == 4
    www = c.services.get("www")
    www.remove()
    # a removed service cannot be a task filter any more (dockerd: "service www not found")
    lab.wait_for(lambda: not [t for t in c.api.tasks() if t["ServiceID"] == www.id], 30,
                 "the tasks deleted from the store")
    lab.wait_for(lambda: all(lab.client(n).info()["Containers"] == 0 for n in lab.nodes), 15,
                 "every node's tasks removed")
